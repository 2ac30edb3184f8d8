//! Answers view queries from the rows the embedded writer keeps, with CouchDB's query parameters.
//!
//! Ports `couch_mrview` query handling: key ranges in collation order (`startkey`/`endkey`, `descending`,
//! `inclusive_end`), `key`/`keys`, `skip`/`limit`, `include_docs`, and the built-in reduces `_count`, `_sum`
//! and `_stats` with `group`/`group_level`, including CouchDB's refusals of contradictory parameters. A range
//! is one ordered index scan: rows are kept sorted by (collation sort key, doc id).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Map, Number, Value};

use super::read::{db_info, load_doc};
use super::schema::sql_error;
use crate::collation::{self, MAX_SORT_KEY};
use crate::{StoreError, StoreResult, ViewOptions, ViewRow};

pub fn query(conn: &mut Connection, db: &str, view: &str, opts: &ViewOptions) -> StoreResult<Vec<ViewRow>> {
    let (design, name) = view
        .split_once('/')
        .filter(|(d, v)| !d.is_empty() && !v.is_empty())
        .ok_or_else(|| StoreError::Invalid(format!("view {view:?} is not of the form design/view")))?;
    let tx = conn.transaction().map_err(sql_error)?;
    let (db_id, _) = db_info(&tx, db)?;
    let found = tx
        .prepare_cached("SELECT id, reduce FROM views WHERE db = ?1 AND name = ?2")
        .and_then(|mut s| {
            s.query_row(params![db_id, view], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))).optional()
        })
        .map_err(sql_error)?;
    let Some((view_id, reduce)) = found else { return Err(missing_view(&tx, db_id, design, name, view)) };

    let do_reduce = opts.reduce.unwrap_or(reduce.is_some());
    let grouping = opts.group || opts.group_level.is_some();
    let invalid = |msg: &str| Err(StoreError::Invalid(msg.to_string()));
    if do_reduce && reduce.is_none() {
        return invalid("reduce is invalid for map-only views");
    }
    if !do_reduce && grouping {
        return invalid("invalid use of grouping on a map view");
    }
    if do_reduce && opts.include_docs {
        return invalid("include_docs is invalid for reduce");
    }
    let level = match (opts.group_level, opts.group) {
        (Some(0), _) => Level::All,
        (Some(level), _) => Level::Prefix(level),
        (None, true) => Level::Exact,
        (None, false) => Level::All,
    };
    if do_reduce && opts.keys.is_some() && level != Level::Exact {
        return invalid("multi-key fetches for reduce views must use group=true");
    }
    let scan = Scan::new(view_id, opts)?;
    let q = Query { conn: &tx, db: db_id, opts, scan };
    let rows = match (do_reduce, reduce) {
        (true, Some(r)) => {
            let reducer = Reducer::parse(&r).ok_or_else(|| {
                StoreError::Invalid(format!("reduce {r} of view {view} has no embedded implementation"))
            })?;
            q.reduce(reducer, level)?
        }
        _ => q.map()?,
    };
    Ok(rows)
}

/// Why a view without stored rows cannot be answered: no design doc, no such view, or no twin for it.
fn missing_view(conn: &Connection, db: i64, design: &str, name: &str, view: &str) -> StoreError {
    let design_id = format!("_design/{design}");
    match load_doc(conn, db, &design_id) {
        Err(e) => e,
        Ok(None) => StoreError::NotFound(design_id),
        Ok(Some(d)) if d.get("views").and_then(|v| v.get(name)).is_none() => {
            StoreError::NotFound(format!("view {view}"))
        }
        Ok(Some(_)) => StoreError::Invalid(format!("view {view} has no embedded implementation")),
    }
}

/// How reduce rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// One row for the whole range, with key `null`.
    All,
    /// By full key (`group=true`).
    Exact,
    /// By the first N elements of array keys (`group_level=N`).
    Prefix(usize),
}

/// The rows a query reads: either a key range or a list of keys, in one direction.
struct Scan {
    view: i64,
    descending: bool,
    kind: ScanKind,
}

enum ScanKind {
    Range { lo: Vec<u8>, lo_inclusive: bool, hi: Vec<u8>, hi_inclusive: bool },
    Keys(Vec<Vec<u8>>),
}

impl Scan {
    fn new(view: i64, opts: &ViewOptions) -> StoreResult<Scan> {
        let descending = opts.descending;
        if let Some(keys) = &opts.keys {
            return Ok(Scan { view, descending, kind: ScanKind::Keys(keys.iter().map(collation::sort_key).collect()) });
        }
        if let Some(key) = &opts.key {
            let k = collation::sort_key(key);
            return Ok(Scan {
                view,
                descending,
                kind: ScanKind::Range { lo: k.clone(), lo_inclusive: true, hi: k, hi_inclusive: true },
            });
        }
        let start = opts.startkey.as_ref().map(collation::sort_key);
        let end = opts.endkey.as_ref().map(collation::sort_key);
        if let (Some(s), Some(e)) = (&start, &end)
            && ((!descending && s > e) || (descending && s < e))
        {
            return Err(StoreError::Invalid(
                "no rows can match your key range, reverse your startkey and endkey or set descending=true".into(),
            ));
        }
        let end_inclusive = opts.inclusive_end.unwrap_or(true);
        let (lo, lo_inclusive, hi, hi_inclusive) =
            if descending { (end, end_inclusive, start, true) } else { (start, true, end, end_inclusive) };
        Ok(Scan {
            view,
            descending,
            kind: ScanKind::Range {
                lo: lo.unwrap_or_default(),
                lo_inclusive,
                hi: hi.unwrap_or_else(|| MAX_SORT_KEY.to_vec()),
                hi_inclusive,
            },
        })
    }

    fn direction(&self) -> &'static str {
        if self.descending { "DESC" } else { "ASC" }
    }

    /// Runs `each` on the rows of the scan, in order, with `columns` selected; `window` is (skip, limit) for a
    /// range scan (keys scans are windowed by the caller).
    fn for_each(
        &self,
        conn: &Connection,
        columns: &str,
        window: Option<(usize, usize)>,
        mut each: impl FnMut(&Row<'_>) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let dir = self.direction();
        let (skip, limit) = window.map_or((0, -1), |(s, l)| (clamp(s), clamp(l)));
        match &self.kind {
            ScanKind::Range { lo, lo_inclusive, hi, hi_inclusive } => {
                let lo_op = if *lo_inclusive { ">=" } else { ">" };
                let hi_op = if *hi_inclusive { "<=" } else { "<" };
                let sql = format!(
                    "SELECT {columns} FROM view_rows WHERE view = ?1 AND key {lo_op} ?2 AND key {hi_op} ?3
                     ORDER BY key {dir}, doc_id {dir}, n {dir} LIMIT ?4 OFFSET ?5"
                );
                let mut stmt = conn.prepare_cached(&sql).map_err(sql_error)?;
                let mut rows = stmt.query(params![self.view, lo, hi, limit, skip]).map_err(sql_error)?;
                while let Some(row) = rows.next().map_err(sql_error)? {
                    each(row)?;
                }
            }
            ScanKind::Keys(keys) => {
                let sql = format!(
                    "SELECT {columns} FROM view_rows WHERE view = ?1 AND key = ?2 ORDER BY doc_id {dir}, n {dir}"
                );
                let mut stmt = conn.prepare_cached(&sql).map_err(sql_error)?;
                for key in keys {
                    let mut rows = stmt.query(params![self.view, key]).map_err(sql_error)?;
                    while let Some(row) = rows.next().map_err(sql_error)? {
                        each(row)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn clamp(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

struct Query<'a> {
    conn: &'a Connection,
    db: i64,
    opts: &'a ViewOptions,
    scan: Scan,
}

fn parse_json(text: &str) -> StoreResult<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Unavailable(format!("stored view row unreadable: {e}")))
}

impl Query<'_> {
    fn map(&self) -> StoreResult<Vec<ViewRow>> {
        let skip = self.opts.skip.unwrap_or(0);
        let limit = self.opts.limit.unwrap_or(usize::MAX);
        let window = matches!(self.scan.kind, ScanKind::Range { .. }).then_some((skip, limit));
        let mut rows = Vec::new();
        self.scan.for_each(self.conn, "key_json, doc_id, value", window, |row| {
            let key: String = row.get(0).map_err(sql_error)?;
            let id: String = row.get(1).map_err(sql_error)?;
            let value: String = row.get(2).map_err(sql_error)?;
            rows.push(ViewRow { id: Some(id), key: parse_json(&key)?, value: parse_json(&value)?, doc: None });
            Ok(())
        })?;
        if window.is_none() {
            rows = rows.into_iter().skip(skip).take(limit).collect();
        }
        if self.opts.include_docs {
            for row in &mut rows {
                // A value `{"_id": ...}` links the row to another document, as in CouchDB.
                let linked = row.value.get("_id").and_then(Value::as_str).map(str::to_string);
                let target = linked.as_deref().or(row.id.as_deref()).unwrap_or_default();
                row.doc = load_doc(self.conn, self.db, target)?;
            }
        }
        Ok(rows)
    }

    fn reduce(&self, reducer: Reducer, level: Level) -> StoreResult<Vec<ViewRow>> {
        let mut out: Vec<ViewRow> = Vec::new();
        let mut group: Option<(Vec<u8>, Value, Acc)> = None;
        self.scan.for_each(self.conn, "key, key_json, value", None, |row| {
            let key = row.get_ref(0).and_then(|v| Ok(v.as_blob()?)).map_err(sql_error)?;
            let prefix = match level {
                Level::All => &[][..],
                Level::Exact => key,
                Level::Prefix(n) => collation::group_prefix(key, n),
            };
            if group.as_ref().is_none_or(|(p, _, _)| p.as_slice() != prefix) {
                let out_key = match level {
                    Level::All => Value::Null,
                    Level::Exact => parse_json(&row.get::<_, String>(1).map_err(sql_error)?)?,
                    Level::Prefix(n) => match parse_json(&row.get::<_, String>(1).map_err(sql_error)?)? {
                        Value::Array(mut items) => {
                            items.truncate(n);
                            Value::Array(items)
                        }
                        other => other,
                    },
                };
                let prefix = prefix.to_vec();
                if let Some((_, key, acc)) = group.replace((prefix, out_key, Acc::new(reducer))) {
                    out.push(ViewRow { id: None, key, value: acc.finish(), doc: None });
                }
            }
            if let Some((_, _, acc)) = group.as_mut() {
                let value = row.get_ref(2).and_then(|v| Ok(v.as_str()?)).map_err(sql_error)?;
                acc.add(value)?;
            }
            Ok(())
        })?;
        if let Some((_, key, acc)) = group {
            out.push(ViewRow { id: None, key, value: acc.finish(), doc: None });
        }
        let skip = self.opts.skip.unwrap_or(0);
        let limit = self.opts.limit.unwrap_or(usize::MAX);
        Ok(out.into_iter().skip(skip).take(limit).collect())
    }
}

/// A built-in reduce function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reducer {
    Count,
    Sum,
    Stats,
}

impl Reducer {
    fn parse(source: &str) -> Option<Reducer> {
        match source.trim() {
            "_count" => Some(Reducer::Count),
            "_sum" => Some(Reducer::Sum),
            "_stats" => Some(Reducer::Stats),
            _ => None,
        }
    }
}

/// A reduction in progress.
enum Acc {
    Count(u64),
    Sum(Option<Value>),
    Stats { count: u64, sum: f64, min: f64, max: f64, sumsqr: f64 },
}

fn reduce_error(what: &str, value: &str) -> StoreError {
    StoreError::Invalid(format!("builtin reduce error: {what} cannot reduce the value {value}"))
}

impl Acc {
    fn new(reducer: Reducer) -> Acc {
        match reducer {
            Reducer::Count => Acc::Count(0),
            Reducer::Sum => Acc::Sum(None),
            Reducer::Stats => {
                Acc::Stats { count: 0, sum: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY, sumsqr: 0.0 }
            }
        }
    }

    fn add(&mut self, text: &str) -> StoreResult<()> {
        match self {
            Acc::Count(n) => *n += 1,
            Acc::Sum(acc) => {
                // The common case, a small integer, skips the JSON parser.
                let v = match text.parse::<i64>() {
                    Ok(i) => Value::from(i),
                    Err(_) => parse_json(text)?,
                };
                *acc = Some(match acc.take() {
                    None => sum(None, v).ok_or_else(|| reduce_error("_sum", text))?,
                    Some(a) => sum(Some(a), v).ok_or_else(|| reduce_error("_sum", text))?,
                });
            }
            Acc::Stats { count, sum, min, max, sumsqr } => {
                let x = match text.parse::<f64>() {
                    Ok(x) if x.is_finite() => x,
                    _ => parse_json(text)?.as_f64().ok_or_else(|| reduce_error("_stats", text))?,
                };
                *count += 1;
                *sum += x;
                *min = min.min(x);
                *max = max.max(x);
                *sumsqr += x * x;
            }
        }
        Ok(())
    }

    fn finish(self) -> Value {
        match self {
            Acc::Count(n) => Value::from(n),
            Acc::Sum(v) => v.unwrap_or_else(|| Value::from(0)),
            Acc::Stats { count, sum, min, max, sumsqr } => {
                let mut m = Map::new();
                m.insert("sum".into(), number(sum));
                m.insert("count".into(), Value::from(count));
                m.insert("min".into(), number(min));
                m.insert("max".into(), number(max));
                m.insert("sumsqr".into(), number(sumsqr));
                Value::Object(m)
            }
        }
    }
}

/// A double as JSON, integral values as integers (as CouchDB's Erlang arithmetic keeps them).
fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
    }
}

/// `_sum` of an accumulator and a value, as CouchDB's `couch_query_servers:sum_values`: numbers add, arrays add
/// element-wise (a number counting as a one-element array), objects add field-wise. `None` for anything else.
fn sum(acc: Option<Value>, v: Value) -> Option<Value> {
    let Some(acc) = acc else { return summable(&v).then_some(v) };
    match (acc, v) {
        (Value::Number(a), Value::Number(b)) => Some(add_numbers(&a, &b)),
        (Value::Array(a), Value::Array(b)) => sum_arrays(a, b),
        (Value::Array(a), n @ Value::Number(_)) => sum_arrays(a, vec![n]),
        (n @ Value::Number(_), Value::Array(b)) => sum_arrays(vec![n], b),
        (Value::Object(mut a), Value::Object(b)) => {
            for (k, vb) in b {
                let merged = match a.shift_remove(&k) {
                    Some(va) => sum(Some(va), vb)?,
                    None => sum(None, vb)?,
                };
                a.insert(k, merged);
            }
            Some(Value::Object(a))
        }
        _ => None,
    }
}

fn summable(v: &Value) -> bool {
    match v {
        Value::Number(_) => true,
        Value::Array(items) => items.iter().all(Value::is_number),
        Value::Object(m) => m.values().all(summable),
        _ => false,
    }
}

fn sum_arrays(a: Vec<Value>, b: Vec<Value>) -> Option<Value> {
    let len = a.len().max(b.len());
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        out.push(match (a.next(), b.next()) {
            (Some(Value::Number(x)), Some(Value::Number(y))) => add_numbers(&x, &y),
            (Some(x @ Value::Number(_)), None) | (None, Some(x @ Value::Number(_))) => x,
            _ => return None,
        });
    }
    Some(Value::Array(out))
}

fn add_numbers(a: &Number, b: &Number) -> Value {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) if x.checked_add(y).is_some() => Value::from(x + y),
        _ => number(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sums_follow_couchdb() {
        let s = |vals: Vec<Value>| vals.into_iter().try_fold(None, |acc, v| sum(acc, v).map(Some)).flatten();
        assert_eq!(s(vec![json!(1), json!(2), json!(3)]), Some(json!(6)));
        assert_eq!(s(vec![json!(1), json!(0.5)]), Some(json!(1.5)));
        assert_eq!(s(vec![json!([1, 2]), json!([10, 20, 30])]), Some(json!([11, 22, 30])));
        assert_eq!(s(vec![json!(1), json!([10, 20])]), Some(json!([11, 20])));
        assert_eq!(s(vec![json!({"a": 1}), json!({"a": 2, "b": 3})]), Some(json!({"a": 3, "b": 3})));
        assert_eq!(s(vec![json!(1), json!("x")]), None);
        assert_eq!(s(vec![json!("x")]), None);
    }

    #[test]
    fn stats_and_count_finish_as_couchdb_prints_them() {
        let mut acc = Acc::new(Reducer::Stats);
        for v in ["1", "2", "3"] {
            assert!(acc.add(v).is_ok());
        }
        assert_eq!(acc.finish(), json!({"sum": 6, "count": 3, "min": 1, "max": 3, "sumsqr": 14}));
        let mut acc = Acc::new(Reducer::Count);
        for v in ["null", "{\"a\":1}"] {
            assert!(acc.add(v).is_ok());
        }
        assert_eq!(acc.finish(), json!(2));
        assert!(Acc::new(Reducer::Stats).add("\"x\"").is_err());
    }
}
