//! remote_write 1.0 wire types. (Being written.)
#![forbid(unsafe_code)]
