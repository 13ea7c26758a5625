//! The PromQL function table: names, argument types, return types. (Being written by the parser.)
