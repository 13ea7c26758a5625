//! The promqltest script format and the promtool series notation. (Being written.)
#![forbid(unsafe_code)]
