//! Exposition-format parsing. (Being written.)
#![forbid(unsafe_code)]
