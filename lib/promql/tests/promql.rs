//! The PromQL crate's one integration test binary.

#[path = "promql/ast.rs"]
mod ast;
#[path = "promql/eval.rs"]
mod eval;
#[path = "promql/parser.rs"]
mod parser;
