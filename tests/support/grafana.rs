//! A panel's SQL as Grafana and the ClickHouse plugin (grafana-clickhouse-datasource 4.20.0, commit
//! 973c4a508220c378ef8a477f3133bba935ca2345) expand it before ClickHouse sees it, in their order
//! (src/data/CHDatasource.ts applyTemplateVariables): the plugin's browser code replaces
//! `$__conditionalAll(cond, $var)`, then Grafana's template service formats the variables, then the plugin's
//! backend expands its macros (pkg/macros/macros.go on github.com/grafana/macropro 1.0.1) with the panel's time
//! range and interval.
//!
//! A port, not the plugin's Go package: the Go module proxy reachable here answers 403 for every
//! github.com/grafana module, so the package cannot be built. tests/grafana_macros.rs runs the package's own
//! cases (pkg/macros/macros_test.go at that commit, tests/fixtures/grafana/macros_cases.json) against it.

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

/// Errors of expansion, as the backend answers them, and a variable the dashboard does not define.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ExpandError {
    /// A macro with the wrong number of arguments (sqlutil.ErrorBadArgumentCount, a downstream error).
    #[error("unexpected number of arguments: {0} expected {1} argument(s), received {2}")]
    BadArgumentCount(String, usize, usize),
    /// `$__timeGroup` with a period Go's time.ParseDuration refuses (downstream).
    #[error("$__timeGroup: invalid interval {0:?}: {1}")]
    InvalidInterval(String, String),
    /// `$__timeGroup` with a period that rounds to 0 s or less (downstream).
    #[error("$__timeGroup: interval must be positive, got {0:?}")]
    NonPositiveInterval(String),
    /// `$__table` without a table in the query (macropro default).
    #[error("$__table: no table name in query context")]
    NoTable,
    /// `$__column` without a column in the query (macropro default).
    #[error("$__column: no column name in query context")]
    NoColumn,
    /// An argument list macropro cannot split.
    #[error("{0}")]
    Parse(String),
    /// A `$var` that is not a variable of the dashboard.
    #[error("no variable {0}")]
    UnknownVariable(String),
}

impl ExpandError {
    /// The errors macros.go wraps with backend.DownstreamError (the user's query, not the plugin, is wrong).
    pub fn is_downstream(&self) -> bool {
        matches!(self, Self::BadArgumentCount(..) | Self::InvalidInterval(..) | Self::NonPositiveInterval(_))
    }
}

/// CHDatasource.ts getMacroArgs: from the `(` at `open`, the arguments split on commas at the first level, not
/// trimmed and blind to quotes; none when the parenthesis does not close.
fn frontend_args(text: &str, open: usize) -> Vec<String> {
    let sub = &text[open..];
    let (mut depth, mut last, mut args) = (0i64, 1usize, Vec::new());
    for (i, c) in sub.char_indices().filter(|(_, c)| matches!(c, '(' | ')' | ',')) {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 1 {
            args.push(sub[last..i].to_string());
            last = i + 1;
        }
        if depth == 0 {
            args.push(sub[last..i].to_string());
            return args;
        }
    }
    Vec::new()
}

/// `$__conditionalAll(cond, $var)` as the plugin's browser code (CHDatasource.ts applyConditionalAll) replaces
/// it, last one first: `1=1` when `$var`'s value (joined with commas) is empty or `$__all`, else `cond` as
/// written; a call without exactly two arguments stops the replacing and leaves the rest as it is.
pub fn conditional_all(sql: &str, variables: &BTreeMap<String, Variable>) -> Result<String, ExpandError> {
    const MACRO: &str = "$__conditionalAll(";
    let mut out = sql.to_string();
    while let Some(at) = out.rfind(MACRO) {
        let params = frontend_args(&out, at + MACRO.len() - 1);
        if params.len() != 2 {
            return Ok(out);
        }
        // The regex /(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+/: the first `${name}` or `$name` in the argument.
        let param = params[1].trim();
        let name = variable_in(param);
        let mut phrase = params[0].clone();
        if let Some(name) = name {
            // An unknown name has no value (`key?.current.value` is undefined): the condition stays.
            if let Some(variable) = variables.get(name) {
                let value = variable.current.join(",");
                if value.is_empty() || value == ALL {
                    phrase = "1=1".to_string();
                }
            }
        }
        // String.replace: the first occurrence of the call as written.
        let call = format!("{MACRO}{},{})", params[0], params[1]);
        out = out.replacen(&call, &phrase, 1);
    }
    Ok(out)
}

/// The first match of `(?<=\$\{)\w+(?=\})|(?<=\$)\w+` in `param` (JavaScript's \w: ASCII letters, digits, `_`).
fn variable_in(param: &str) -> Option<&str> {
    let word = |s: &str| s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    for (i, _) in param.char_indices() {
        let before = &param[..i];
        let here = &param[i..];
        let n = word(here);
        if n == 0 {
            continue;
        }
        if before.ends_with("${") && here[n..].starts_with('}') {
            return Some(&here[..n]);
        }
        if before.ends_with('$') {
            return Some(&here[..n]);
        }
    }
    None
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

/// The query's `table` and `column` (sqlutil.Query), which only `$__table` and `$__column` read; the dashboards
/// set neither, so [`macros`] passes them empty, as the backend does.
#[derive(Debug, Clone, Default)]
pub struct QueryNames {
    /// sqlutil.Query.Table.
    pub table: String,
    /// sqlutil.Query.Column.
    pub column: String,
}

/// `toDate('YYYY-MM-DD')` of the UTC day of `ms` (macros.go timeToDate; the backend's range is UTC).
pub fn date_literal(ms: i64) -> String {
    format!("toDate('{}')", civil_date(ms.div_euclid(86_400_000)))
}

/// `toDateTime(<unix seconds>)`; Go's `Time.Unix` floors (macros.go timeToDateTime).
pub fn datetime_literal(ms: i64) -> String {
    format!("toDateTime({})", ms.div_euclid(1000))
}

/// `fromUnixTimestamp64Milli(<unix ms>)` (macros.go timeToDateTime64).
pub fn datetime64_literal(ms: i64) -> String {
    format!("fromUnixTimestamp64Milli({ms})")
}

/// YYYY-MM-DD of a day number since 1970-01-01.
fn civil_date(days: i64) -> String {
    let (y, m, d) = tokenledger::ledger::human::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The macro names in effect: macropro.DefaultMacros (interval, interval_ms, table, column; timeFilter, timeFrom,
/// timeTo and timeGroup overridden) merged with the plugin's own (macros.go ClickHouseMacros).
pub const MACRO_NAMES: [&str; 19] = [
    "interval",
    "interval_ms",
    "table",
    "column",
    "timeFilter",
    "timeFrom",
    "timeTo",
    "timeGroup",
    "fromTime",
    "toTime",
    "fromTime_ms",
    "toTime_ms",
    "timeFilter_ms",
    "dateFilter",
    "dateTimeFilter",
    "dt",
    "timeInterval",
    "timeInterval_ms",
    "interval_s",
];

/// The plugin's backend expansion (macros.go Interpolate): comments stripped first, then every `$__name` whose
/// whole name is a macro is expanded in one forward pass, macros inside arguments first; other `$__` names are
/// left as they are. An error stops the expansion (the backend answers the query with it).
pub fn macros(sql: &str, time: QueryTime) -> Result<String, ExpandError> {
    macros_with(sql, time, &QueryNames::default())
}

/// [`macros`] with the query's table and column.
pub fn macros_with(sql: &str, time: QueryTime, names: &QueryNames) -> Result<String, ExpandError> {
    interpolate(&strip_comments(sql), time, names)
}

/// macropro.StripComments with the plugin's style (line, block, backslash escapes): `--` to the end of the line
/// (`\n` or `\r`) and `/* … */` (through the end when unterminated) become spaces of the same length; quoted
/// text, with `''`/`""` and `\x` escapes, is kept.
pub fn strip_comments(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == b'\'' || c == b'"' {
            let j = scan_literal(b, i, true);
            out.extend_from_slice(&b[i..j]);
            i = j;
        } else if c == b'-' && next == Some(b'-') {
            let j = (i..b.len()).find(|&j| b[j] == b'\n' || b[j] == b'\r').unwrap_or(b.len());
            out.resize(out.len() + (j - i), b' ');
            i = j;
        } else if c == b'/' && next == Some(b'*') {
            let j = (i + 2..b.len().saturating_sub(1))
                .find(|&j| b[j] == b'*' && b[j + 1] == b'/')
                .map_or(b.len(), |j| j + 2);
            out.resize(out.len() + (j - i), b' ');
            i = j;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).expect("only ASCII bytes are replaced")
}

/// The index after the quoted literal opening at `pos` (macropro scanStringLiteral; with `backslash`,
/// scanStringLiteralBackslash): a doubled quote, or with `backslash` any `\x`, does not close it; an unterminated
/// literal runs to the end.
fn scan_literal(b: &[u8], pos: usize, backslash: bool) -> usize {
    let quote = b[pos];
    let mut j = pos + 1;
    while j < b.len() {
        if backslash && b[j] == b'\\' {
            j += 2;
            continue;
        }
        if b[j] == quote {
            if b.get(j + 1) == Some(&quote) {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    b.len()
}

fn is_name_char(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric()
}

/// The index of the `)` closing the `(` at `open` (macropro findClosingParen: quoted text skipped), if any.
fn closing_paren(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                i = scan_literal(b, i, false);
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// macropro parseArgs: the text between the parentheses split on commas outside parentheses and quotes, each
/// trimmed; blank is no argument.
fn parse_args(raw: &str) -> Result<Vec<String>, ExpandError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    let b = raw.as_bytes();
    let (mut args, mut depth, mut start, mut i) = (Vec::new(), 0usize, 0usize, 0usize);
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                i = scan_literal(b, i, false);
                continue;
            }
            b'(' => depth += 1,
            b')' if depth == 0 => return Err(ExpandError::Parse(format!("unexpected ')' at position {i}"))),
            b')' => depth -= 1,
            b',' if depth == 0 => {
                args.push(raw[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if depth != 0 {
        return Err(ExpandError::Parse("unbalanced parentheses in arguments".into()));
    }
    args.push(raw[start..].trim().to_string());
    Ok(args)
}

fn interpolate(sql: &str, time: QueryTime, names: &QueryNames) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(i) = rest.find("$__") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 3..];
        let n = tail.bytes().position(|c| !is_name_char(c)).unwrap_or(tail.len());
        let name = &tail[..n];
        if !MACRO_NAMES.contains(&name) {
            // Not a macro of the plugin: left for ClickHouse (or the frontend) as it is.
            out.push_str(&rest[i..i + 3 + n]);
            rest = &tail[n..];
            continue;
        }
        // An argument list only when `(` follows at once and closes; else the macro takes none.
        let (raw, used) = match tail[n..].starts_with('(').then(|| closing_paren(tail.as_bytes(), n)).flatten() {
            Some(close) => (&tail[n + 1..close], close + 1),
            None => ("", n),
        };
        // Macros inside the arguments are expanded first (macropro 1.0.1, the plugin's nested-macro cases).
        let raw = interpolate(raw, time, names)?;
        let args = parse_args(&raw)?;
        out.push_str(&expand_one(name, &args, time, names)?);
        rest = &tail[used..];
    }
    out.push_str(rest);
    Ok(out)
}

/// One macro's handler called with its arguments (macros.go, or macropro's default for interval, interval_ms,
/// table, column); `name` must be one of [`MACRO_NAMES`].
pub fn expand_one(name: &str, args: &[String], time: QueryTime, names: &QueryNames) -> Result<String, ExpandError> {
    let (from, to) = (time.from_ms, time.to_ms);
    let want = |count: usize| {
        if args.len() == count {
            Ok(())
        } else {
            Err(ExpandError::BadArgumentCount(format!("$__{name}"), count, args.len()))
        }
    };
    // Go: int(math.Max(Interval.Seconds(), 1)) — whole seconds, truncated, at least 1.
    let interval_s = ((time.interval_ms as f64 / 1000.0).max(1.0)) as i64;
    Ok(match name {
        "fromTime" => datetime_literal(from),
        "toTime" => datetime_literal(to),
        "fromTime_ms" => datetime64_literal(from),
        "toTime_ms" => datetime64_literal(to),
        "timeFilter" => {
            want(1)?;
            format!("{c} >= {} AND {c} <= {}", datetime_literal(from), datetime_literal(to), c = args[0])
        }
        "timeFilter_ms" => {
            want(1)?;
            format!("{c} >= {} AND {c} <= {}", datetime64_literal(from), datetime64_literal(to), c = args[0])
        }
        "dateFilter" => {
            want(1)?;
            format!("{c} >= {} AND {c} <= {}", date_literal(from), date_literal(to), c = args[0])
        }
        "dateTimeFilter" | "dt" => {
            want(2)?;
            format!(
                "({d} >= {} AND {d} <= {}) AND ({t} >= {} AND {t} <= {})",
                date_literal(from),
                date_literal(to),
                datetime_literal(from),
                datetime_literal(to),
                d = args[0],
                t = args[1]
            )
        }
        "timeInterval" => {
            want(1)?;
            format!("toStartOfInterval(toDateTime({}), INTERVAL {interval_s} second)", args[0])
        }
        "timeInterval_ms" => {
            want(1)?;
            format!("toStartOfInterval(toDateTime64({}, 3), INTERVAL {} millisecond)", args[0], time.interval_ms.max(1))
        }
        "interval_s" => interval_s.to_string(),
        "timeFrom" => {
            want(1)?;
            format!("{} >= {}", args[0], datetime_literal(from))
        }
        "timeTo" => {
            want(1)?;
            format!("{} <= {}", args[0], datetime_literal(to))
        }
        "timeGroup" => {
            want(2)?;
            let period = args[1].trim().trim_matches(['\'', '"']);
            let nanos = go_duration(period).map_err(|e| ExpandError::InvalidInterval(period.to_string(), e))?;
            // Go: int64(math.Round(d.Seconds())), half away from zero.
            let secs = ((nanos / 1_000_000_000) as f64 + (nanos % 1_000_000_000) as f64 / 1e9).round() as i64;
            if secs <= 0 {
                return Err(ExpandError::NonPositiveInterval(period.to_string()));
            }
            format!("toStartOfInterval(toDateTime({}), INTERVAL {secs} second)", args[0].trim())
        }
        "interval" => format_duration(time.interval_ms),
        "interval_ms" => time.interval_ms.to_string(),
        "table" if names.table.is_empty() => return Err(ExpandError::NoTable),
        "table" => names.table.clone(),
        "column" if names.column.is_empty() => return Err(ExpandError::NoColumn),
        "column" => names.column.clone(),
        other => unreachable!("{other} is in MACRO_NAMES"),
    })
}

/// macropro FormatDuration (1.0.x): the largest whole unit of h, m, s, else ms; 0 is `0s`.
fn format_duration(ms: i64) -> String {
    let ms = ms.abs();
    match ms {
        0 => "0s".into(),
        _ if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        _ if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        _ if ms % 1000 == 0 => format!("{}s", ms / 1000),
        _ => format!("{ms}ms"),
    }
}

/// Go's time.ParseDuration, in nanoseconds: `[-+]` then one or more `<decimal><unit>` (ns, us, µs, μs, ms, s, m,
/// h); `0` alone is allowed.
pub fn go_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !(rest.starts_with('.') || rest.as_bytes()[0].is_ascii_digit()) {
            return Err(bad());
        }
        let int_len = rest.bytes().position(|c| !c.is_ascii_digit()).unwrap_or(rest.len());
        let int_part = &rest[..int_len];
        let v: u64 = if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| bad())? };
        rest = &rest[int_len..];
        let mut frac = "";
        if let Some(after) = rest.strip_prefix('.') {
            let n = after.bytes().position(|c| !c.is_ascii_digit()).unwrap_or(after.len());
            frac = &after[..n];
            rest = &after[n..];
        }
        if int_part.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        let unit_len = rest.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(rest.len());
        let unit: u64 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            u => return Err(format!("time: unknown unit {u:?} in duration {s:?}")),
        };
        rest = &rest[unit_len..];
        let mut value = v.checked_mul(unit).ok_or_else(bad)?;
        if !frac.is_empty() {
            // Go keeps the fraction's digits while they fit, then adds f * unit/scale as a float.
            let (mut f, mut scale, mut overflow) = (0u64, 1f64, false);
            for d in frac.bytes() {
                if overflow || f > (1u64 << 63) / 10 {
                    overflow = true;
                    continue;
                }
                f = f * 10 + u64::from(d - b'0');
                scale *= 10.0;
            }
            value = value.checked_add((f as f64 * (unit as f64 / scale)) as u64).ok_or_else(bad)?;
        }
        total = total.checked_add(value).ok_or_else(bad)?;
        if total > 1u64 << 63 || (!neg && total > i64::MAX as u64) {
            return Err(bad());
        }
    }
    Ok(if neg { (total as i128).wrapping_neg() as i64 } else { total as i64 })
}

/// The whole expansion of one target's rawSql: conditionalAll, the template service, the macros.
pub fn expand(sql: &str, variables: &BTreeMap<String, Variable>, time: QueryTime) -> Result<String, ExpandError> {
    macros(&template(&conditional_all(sql, variables)?, variables)?, time)
}
