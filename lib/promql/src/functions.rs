//! The PromQL function table: every function the parser accepts, with its
//! argument types, how many optional/variadic arguments it takes, its
//! return type and whether it is experimental.
//!
//! The table mirrors Prometheus's `promql/parser/functions.go`. The parser
//! uses it to type-check calls; the evaluator uses it to know signatures.
//!
//! `variadic` follows Prometheus: `0` means exactly `arg_types.len()`
//! arguments; `n > 0` means the last argument type is optional and may be
//! repeated so that between `arg_types.len() - 1` and
//! `arg_types.len() - 1 + n` arguments are accepted; `-1` means the last
//! type may repeat without bound (at least `arg_types.len() - 1`).

use crate::ast::ValueType;

/// One PromQL function signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    pub name: &'static str,
    pub arg_types: &'static [ValueType],
    /// See the module docs.
    pub variadic: i32,
    pub return_type: ValueType,
    /// Only available when experimental functions are enabled.
    pub experimental: bool,
}

impl Function {
    /// The smallest number of arguments accepted.
    pub fn min_args(&self) -> usize {
        if self.variadic == 0 {
            self.arg_types.len()
        } else {
            self.arg_types.len().saturating_sub(1)
        }
    }

    /// The largest number of arguments accepted (`None`: unbounded).
    pub fn max_args(&self) -> Option<usize> {
        match self.variadic {
            0 => Some(self.arg_types.len()),
            n if n > 0 => Some(self.arg_types.len().saturating_sub(1) + n as usize),
            _ => None,
        }
    }

    /// The expected type of argument `i` (the last type repeats for
    /// variadic functions), or `None` past the end of a fixed signature.
    pub fn arg_type(&self, i: usize) -> Option<ValueType> {
        match self.arg_types.get(i) {
            Some(t) => Some(*t),
            None if self.variadic != 0 => self.arg_types.last().copied(),
            None => None,
        }
    }
}

use ValueType::{Matrix as M, Scalar as S, String as Str, Vector as V};

const fn f(name: &'static str, arg_types: &'static [ValueType], ret: ValueType) -> Function {
    Function {
        name,
        arg_types,
        variadic: 0,
        return_type: ret,
        experimental: false,
    }
}

const fn var(
    name: &'static str,
    arg_types: &'static [ValueType],
    variadic: i32,
    ret: ValueType,
) -> Function {
    Function {
        name,
        arg_types,
        variadic,
        return_type: ret,
        experimental: false,
    }
}

const fn exp(f: Function) -> Function {
    Function {
        experimental: true,
        ..f
    }
}

/// All functions, sorted by name.
pub static FUNCTIONS: &[Function] = &[
    f("abs", &[V], V),
    f("absent", &[V], V),
    f("absent_over_time", &[M], V),
    f("acos", &[V], V),
    f("acosh", &[V], V),
    f("asin", &[V], V),
    f("asinh", &[V], V),
    f("atan", &[V], V),
    f("atanh", &[V], V),
    f("avg_over_time", &[M], V),
    f("ceil", &[V], V),
    f("changes", &[M], V),
    f("clamp", &[V, S, S], V),
    f("clamp_max", &[V, S], V),
    f("clamp_min", &[V, S], V),
    f("cos", &[V], V),
    f("cosh", &[V], V),
    f("count_over_time", &[M], V),
    var("day_of_month", &[V], 1, V),
    var("day_of_week", &[V], 1, V),
    var("day_of_year", &[V], 1, V),
    var("days_in_month", &[V], 1, V),
    f("deg", &[V], V),
    f("delta", &[M], V),
    f("deriv", &[M], V),
    exp(f("double_exponential_smoothing", &[M, S, S], V)),
    exp(f("end", &[], S)),
    f("exp", &[V], V),
    exp(f("first_over_time", &[M], V)),
    f("floor", &[V], V),
    f("histogram_avg", &[V], V),
    f("histogram_count", &[V], V),
    f("histogram_fraction", &[S, S, V], V),
    f("histogram_quantile", &[S, V], V),
    exp(var("histogram_quantiles", &[V, Str, S, S], 9, V)),
    f("histogram_stddev", &[V], V),
    f("histogram_stdvar", &[V], V),
    f("histogram_sum", &[V], V),
    var("hour", &[V], 1, V),
    f("idelta", &[M], V),
    f("increase", &[M], V),
    exp(var("info", &[V, V], 1, V)),
    exp(var("integral", &[M, S], 1, V)),
    f("irate", &[M], V),
    var("label_join", &[V, Str, Str, Str], -1, V),
    f("label_replace", &[V, Str, Str, Str, Str], V),
    f("last_over_time", &[M], V),
    f("ln", &[V], V),
    f("log10", &[V], V),
    f("log2", &[V], V),
    exp(f("mad_over_time", &[M], V)),
    exp(f("max_of", &[S, S], S)),
    f("max_over_time", &[M], V),
    exp(f("min_of", &[S, S], S)),
    f("min_over_time", &[M], V),
    var("minute", &[V], 1, V),
    var("month", &[V], 1, V),
    f("pi", &[], S),
    f("predict_linear", &[M, S], V),
    f("present_over_time", &[M], V),
    f("quantile_over_time", &[S, M], V),
    f("rad", &[V], V),
    exp(f("range", &[], S)),
    f("rate", &[M], V),
    f("resets", &[M], V),
    var("round", &[V, S], 1, V),
    f("scalar", &[V], S),
    f("sgn", &[V], V),
    f("sin", &[V], V),
    f("sinh", &[V], V),
    f("sort", &[V], V),
    exp(var("sort_by_label", &[V, Str], -1, V)),
    exp(var("sort_by_label_desc", &[V, Str], -1, V)),
    f("sort_desc", &[V], V),
    f("sqrt", &[V], V),
    exp(f("start", &[], S)),
    f("stddev_over_time", &[M], V),
    f("stdvar_over_time", &[M], V),
    exp(f("step", &[], S)),
    f("sum_over_time", &[M], V),
    f("tan", &[V], V),
    f("tanh", &[V], V),
    f("time", &[], S),
    f("timestamp", &[V], V),
    exp(f("ts_of_first_over_time", &[M], V)),
    exp(f("ts_of_last_over_time", &[M], V)),
    exp(f("ts_of_max_over_time", &[M], V)),
    exp(f("ts_of_min_over_time", &[M], V)),
    f("vector", &[S], V),
    var("year", &[V], 1, V),
];

/// Looks a function up by its exact (case-sensitive) name.
pub fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS
        .binary_search_by(|f| f.name.cmp(name))
        .ok()
        .map(|i| &FUNCTIONS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for w in FUNCTIONS.windows(2) {
            assert!(w[0].name < w[1].name, "{} !< {}", w[0].name, w[1].name);
        }
    }

    #[test]
    fn lookup_and_arity() {
        let cases: &[(&str, usize, Option<usize>)] = &[
            ("rate", 1, Some(1)),
            ("time", 0, Some(0)),
            ("round", 1, Some(2)),
            ("label_join", 3, None),
            ("histogram_quantiles", 3, Some(12)),
            ("year", 0, Some(1)),
        ];
        for (name, min, max) in cases {
            let f = lookup(name).unwrap();
            assert_eq!(f.min_args(), *min, "{name}");
            assert_eq!(f.max_args(), *max, "{name}");
        }
        assert!(lookup("Rate").is_none());
        assert!(lookup("holt_winters").is_none());
        assert_eq!(
            lookup("label_join").unwrap().arg_type(7),
            Some(ValueType::String)
        );
        assert_eq!(lookup("rate").unwrap().arg_type(1), None);
    }
}
