//! `label_replace` and `label_join`, which work on whole series.

use crate::ast::Expr;
use crate::eval::engine::{exec_err, merge_same_labelsets, unwrap_parens, Evaluator, Result};
use crate::eval::types::Matrix;
use crate::labels::METRIC_NAME;

fn string_arg(e: &Expr) -> Result<&str> {
    match unwrap_parens(e) {
        Expr::String { val, .. } => Ok(val),
        _ => Err(exec_err("expected a string argument")),
    }
}

/// Whether `n` is a valid label name. Names are UTF-8; the parser turns
/// invalid byte escapes into U+FFFD, which stands for invalid UTF-8 here.
pub(crate) fn valid_label_name(n: &str) -> bool {
    !n.is_empty() && !n.contains('\u{FFFD}')
}

/// Expands `$1`, `${name}` references like Go's `Regexp.ExpandString`.
fn expand(re: &regex::Regex, caps: &regex::Captures<'_>, repl: &str) -> String {
    let _ = re;
    let mut out = String::new();
    caps.expand(repl, &mut out);
    out
}

impl Evaluator<'_> {
    pub(crate) fn label_replace(&mut self, args: &[Expr]) -> Result<Matrix> {
        if args.len() != 5 {
            return Err(exec_err("label_replace needs 5 arguments"));
        }
        let dst = string_arg(&args[1])?;
        let repl = string_arg(&args[2])?;
        let src = string_arg(&args[3])?;
        let re_str = string_arg(&args[4])?;
        let re = regex::Regex::new(&format!("^(?s:{re_str})$")).map_err(|_| {
            exec_err(format!(
                "invalid regular expression in label_replace(): {re_str}"
            ))
        })?;
        if !valid_label_name(dst) {
            return Err(exec_err(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        let mut m = self.eval_matrix(&args[0])?;
        for s in &mut m {
            let src_val = s.labels.get(src).to_string();
            if let Some(caps) = re.captures(&src_val) {
                let res = expand(&re, &caps, repl);
                let mut b = s.labels.builder();
                b.set(dst, &res);
                s.labels = b.build();
                if dst == METRIC_NAME {
                    s.drop_name = false;
                }
            }
        }
        merge_same_labelsets(m)
    }

    pub(crate) fn label_join(&mut self, args: &[Expr]) -> Result<Matrix> {
        if args.len() < 3 {
            return Err(exec_err("label_join needs at least 3 arguments"));
        }
        let dst = string_arg(&args[1])?;
        let sep = string_arg(&args[2])?;
        let mut srcs = Vec::new();
        for a in &args[3..] {
            let src = string_arg(a)?;
            if !valid_label_name(src) {
                return Err(exec_err(format!(
                    "invalid source label name in label_join(): {src}"
                )));
            }
            srcs.push(src);
        }
        if !valid_label_name(dst) {
            return Err(exec_err(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        let mut m = self.eval_matrix(&args[0])?;
        for s in &mut m {
            let vals: Vec<&str> = srcs.iter().map(|n| s.labels.get(n)).collect();
            let joined = vals.join(sep);
            let mut b = s.labels.builder();
            b.set(dst, &joined);
            s.labels = b.build();
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
        merge_same_labelsets(m)
    }
}
