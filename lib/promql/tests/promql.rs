//! The PromQL crate's one integration test binary.

#[path = "promql/eval.rs"]
mod eval;
#[path = "promql/parser.rs"]
mod parser;
#[path = "promql/ast.rs"]
mod ast;
