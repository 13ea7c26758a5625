//! Host collector tests: pure parsers (fixture strings), the I/O layer
//! against a fake `/proc` + `/sys` tree, and a live comparison with the
//! real node_exporter.

mod expo;
mod fake_root;
mod node_exporter;
mod parsers;
