//! A panel's SQL as Grafana and the ClickHouse plugin (grafana-clickhouse-datasource 4.20.0) expand it before
//! ClickHouse sees it, in their order: the plugin's browser code replaces `$__conditionalAll(cond, $var)`, then
//! Grafana's template service formats the variables, then the plugin's backend expands its macros
//! (`pkg/macros/macros.go`) with the panel's time range and interval.
//!
//! A port, not the plugin's Go package: the Go module proxy reachable here answers 403 for every
//! github.com/grafana module, so the package cannot be built. Each rule names what it follows; the cases in
//! tests/grafana_panels.rs pin the forms the plugin's macros.go writes and Grafana's formats.

use std::collections::BTreeMap;

/// Grafana's value for "All" in a multi-value variable's `current`.
pub const ALL: &str = "$__all";

/// A template variable as a dashboard holds it at query time.
#[derive(Debug, Clone, Default)]
pub struct Variable {
    /// The selected values (`["$__all"]` for All).
    pub current: Vec<String>,
    /// Every option the variable offers (its query's rows), which All stands for.
    pub options: Vec<String>,
    /// The variable's custom allValue, if any.
    pub all_value: Option<String>,
}

impl Variable {
    fn is_all(&self) -> bool {
        self.current.iter().any(|v| v == ALL)
    }
}

/// Errors of expansion: a macro the plugin does not know or called with the wrong arguments, a variable the
/// dashboard does not define.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ExpandError {
    /// `$__name(...)` that is no macro of the plugin.
    #[error("unknown macro $__{0}")]
    UnknownMacro(String),
    /// A macro with the wrong number of arguments.
    #[error("$__{0}: expected {1} argument(s), got {2}")]
    Arguments(String, usize, usize),
    /// A `$var` that is not a variable of the dashboard.
    #[error("no variable {0}")]
    UnknownVariable(String),
    /// An unbalanced parenthesis after a macro name.
    #[error("unclosed ( after $__{0}")]
    Unclosed(String),
}

/// The arguments of a call whose `(` is at `open`: split on top-level commas, and the index after `)`.
fn call_args(text: &str, open: usize) -> Option<(Vec<String>, usize)> {
    let bytes = text.as_bytes();
    let (mut depth, mut start, mut args) = (0usize, open + 1, Vec::new());
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    let last = &text[start..i];
                    if !(args.is_empty() && last.trim().is_empty()) {
                        args.push(last.to_string());
                    }
                    return Some((args, i + 1));
                }
            }
            b',' if depth == 1 => {
                args.push(text[start..i].to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    None
}

/// `$__conditionalAll(cond, $var)` as the plugin's browser code (src/data/CHDatasource.ts) replaces it: `1=1`
/// when `$var` is All or has no value, else `cond`, left for the template service.
pub fn conditional_all(sql: &str, variables: &BTreeMap<String, Variable>) -> Result<String, ExpandError> {
    const MACRO: &str = "$__conditionalAll(";
    let mut out = sql.to_string();
    while let Some(at) = out.rfind(MACRO) {
        let open = at + MACRO.len() - 1;
        let (args, end) = call_args(&out, open).ok_or_else(|| ExpandError::Unclosed("conditionalAll".into()))?;
        if args.len() != 2 {
            return Err(ExpandError::Arguments("conditionalAll".into(), 2, args.len()));
        }
        let name = args[1].trim().trim_start_matches('$').trim_start_matches('{').trim_end_matches('}');
        let variable = variables.get(name).ok_or_else(|| ExpandError::UnknownVariable(name.to_string()))?;
        let empty = variable.current.is_empty() || variable.current.iter().all(String::is_empty);
        let phrase = if variable.is_all() || empty { "1=1".to_string() } else { args[0].trim().to_string() };
        out.replace_range(at..end, &phrase);
    }
    Ok(out)
}

/// One variable's values in a format, as Grafana's template service writes them. `None` is the format the
/// ClickHouse plugin passes by default: a single value as it is, several as `'a','b'` (not escaped).
pub fn format(variable: &Variable, format: Option<&str>) -> String {
    if variable.is_all() {
        // A custom allValue is written as it is, unformatted (Grafana's templateSrv skips formatting it).
        if let Some(all) = &variable.all_value {
            return all.clone();
        }
    }
    let values: Vec<&String> =
        if variable.is_all() { variable.options.iter().collect() } else { variable.current.iter().collect() };
    match format {
        Some("singlequote") => {
            values.iter().map(|v| format!("'{}'", v.replace('\'', "\\'"))).collect::<Vec<_>>().join(",")
        }
        Some("raw") => values.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(","),
        Some(other) => panic!("format {other} is not used by the dashboards"),
        None if values.len() == 1 => values[0].clone(),
        None => values.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(","),
    }
}

/// Grafana's template service over `sql`: `$name`, `${name}`, `${name:format}`, `[[name]]`. A `$__…` name that
/// is not a dashboard variable (the plugin's macros) is left for the backend, as Grafana leaves unknown names.
pub fn template(sql: &str, variables: &BTreeMap<String, Variable>) -> Result<String, ExpandError> {
    let mut out = String::new();
    let mut rest = sql;
    while let Some(i) = rest.find(['$', '[']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let word = |s: &str| s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
        let (name, fmt, used) = if let Some(body) = tail.strip_prefix("${") {
            let end = body.find('}').expect("closed ${");
            let (name, fmt) = match body[..end].split_once(':') {
                Some((n, f)) => (n, Some(f)),
                None => (&body[..end], None),
            };
            (name, fmt, end + 3)
        } else if let Some(body) = tail.strip_prefix("[[") {
            let end = body.find("]]").unwrap_or(0);
            (&body[..end], None, end + 4)
        } else if let Some(body) = tail.strip_prefix('$') {
            let n = word(body);
            (&body[..n], None, 1 + n)
        } else {
            ("", None, 1)
        };
        match variables.get(name) {
            Some(variable) if !name.is_empty() => out.push_str(&format(variable, fmt)),
            _ if name.starts_with("__") || name.is_empty() => out.push_str(&tail[..used]),
            _ => return Err(ExpandError::UnknownVariable(name.to_string())),
        }
        rest = &tail[used..];
    }
    out.push_str(rest);
    Ok(out)
}

/// What the plugin's backend knows of a query besides its SQL: the time range (Unix milliseconds) and the
/// interval (milliseconds).
#[derive(Debug, Clone, Copy)]
pub struct QueryTime {
    /// Range start, ms since the epoch.
    pub from_ms: i64,
    /// Range end, ms since the epoch.
    pub to_ms: i64,
    /// The panel's interval, ms.
    pub interval_ms: i64,
}

fn date(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let date = chrono_like_date(days);
    format!("toDate('{date}')")
}

/// YYYY-MM-DD of a day number since 1970-01-01 (civil-from-days), so the port needs no date crate.
fn chrono_like_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The plugin's macros (pkg/macros/macros.go of 4.20.0), as its backend expands them: `$__name` or
/// `$__name(args)` with arguments split on top-level commas and trimmed.
pub fn macros(sql: &str, time: QueryTime) -> Result<String, ExpandError> {
    let secs = |ms: i64| format!("toDateTime({})", ms.div_euclid(1000));
    let millis = |ms: i64| format!("fromUnixTimestamp64Milli({ms})");
    let (from, to) = (time.from_ms, time.to_ms);
    let mut out = String::new();
    let mut rest = sql;
    while let Some(i) = rest.find("$__") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 3..];
        let n = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        let name = &tail[..n];
        let (args, used) = if tail[n..].starts_with('(') {
            let (args, end) = call_args(tail, n).ok_or_else(|| ExpandError::Unclosed(name.to_string()))?;
            (args.into_iter().map(|a| a.trim().to_string()).collect::<Vec<_>>(), end)
        } else {
            (Vec::new(), n)
        };
        let want = |count: usize| {
            if args.len() == count {
                Ok(())
            } else {
                Err(ExpandError::Arguments(name.to_string(), count, args.len()))
            }
        };
        let expanded = match name {
            "fromTime" => secs(from),
            "toTime" => secs(to),
            "fromTime_ms" => millis(from),
            "toTime_ms" => millis(to),
            "timeFilter" => {
                want(1)?;
                format!("{c} >= {} AND {c} <= {}", secs(from), secs(to), c = args[0])
            }
            "timeFilter_ms" => {
                want(1)?;
                format!("{c} >= {} AND {c} <= {}", millis(from), millis(to), c = args[0])
            }
            "dateFilter" => {
                want(1)?;
                format!("{c} >= {} AND {c} <= {}", date(from), date(to), c = args[0])
            }
            "dateTimeFilter" | "dt" => {
                want(2)?;
                format!(
                    "({d} >= {} AND {d} <= {}) AND ({t} >= {} AND {t} <= {})",
                    date(from),
                    date(to),
                    secs(from),
                    secs(to),
                    d = args[0],
                    t = args[1]
                )
            }
            "timeInterval" => {
                want(1)?;
                format!(
                    "toStartOfInterval(toDateTime({}), INTERVAL {} second)",
                    args[0],
                    (time.interval_ms / 1000).max(1)
                )
            }
            "timeInterval_ms" => {
                want(1)?;
                format!(
                    "toStartOfInterval(toDateTime64({}, 3), INTERVAL {} millisecond)",
                    args[0],
                    time.interval_ms.max(1)
                )
            }
            "interval_s" => (time.interval_ms / 1000).max(1).to_string(),
            other => return Err(ExpandError::UnknownMacro(other.to_string())),
        };
        out.push_str(&expanded);
        rest = &tail[used..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The whole expansion of one target's rawSql: conditionalAll, the template service, the macros.
pub fn expand(sql: &str, variables: &BTreeMap<String, Variable>, time: QueryTime) -> Result<String, ExpandError> {
    macros(&template(&conditional_all(sql, variables)?, variables)?, time)
}
