//! The evaluator. (Being written.)
