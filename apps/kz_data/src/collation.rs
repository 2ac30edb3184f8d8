//! Orders JSON view keys the way CouchDB does, and encodes them as byte strings that sort the same way.
//!
//! This ports CouchDB's view collation (`couch_ejson_compare`) for the embedded store, which keeps view rows in
//! SQLite ordered by [`sort_key`]: a plain `memcmp` of two sort keys gives the same answer as [`compare`] on the
//! values. The order is CouchDB's documented one:
//!
//! `null < false < true < numbers < strings < arrays < objects`
//!
//! - numbers by value (as IEEE doubles, like JavaScript; `1` and `1.0` are equal);
//! - arrays element by element, a shorter array before a longer one it is a prefix of;
//! - objects field by field in their stored order (key, then value), fewer fields first;
//! - strings in the Unicode Collation Algorithm order CouchDB gets from ICU. For ASCII that is the order CouchDB
//!   documents: control characters and space first, then
//!   ``^ _ - , ; : ! ? . ' " ( ) [ ] { } @ * / \ & # % ` + < = > | ~ $``, then the digits, then the letters
//!   compared without case (`a A b B ... z Z`). Two strings equal without case are then ordered by case, lowercase
//!   first, comparing the first character whose case differs (the tie-break of one string never reaches the next
//!   element of an array). Characters beyond ASCII sort after every ASCII letter, by code point; this embedded
//!   approximation of ICU does not fold their case or apply language tailoring.

use std::cmp::Ordering;

use serde_json::{Map, Value};

// Type tags of sort keys, in collation order; 0 ends strings, arrays and objects.
const END: u8 = 0x00;
const NULL: u8 = 0x10;
const FALSE: u8 = 0x20;
const TRUE: u8 = 0x30;
const NUMBER: u8 = 0x40;
const STRING: u8 = 0x50;
const ARRAY: u8 = 0x60;
const OBJECT: u8 = 0x70;

/// A byte string above every sort key: the upper bound of an open-ended range.
pub const MAX_SORT_KEY: &[u8] = &[0xFF];

/// The lead byte of a primary weight written on four bytes (every character beyond ASCII).
const WIDE: u8 = 0xF0;

/// ASCII characters in collation order, except letters; each gets its rank as primary weight.
const ASCII_ORDER: &[u8] = b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\
\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f \
^_-,;:!?.'\"()[]{}@*/\\&#%`+<=>|~$0123456789";

/// Primary weights of the 128 ASCII characters: 1-based ranks, letters sharing one weight per case pair.
const ASCII_PRIMARY: [u8; 128] = ascii_primary();

const fn ascii_primary() -> [u8; 128] {
    let mut table = [0u8; 128];
    let mut rank = 1u8;
    let mut i = 0;
    while i < ASCII_ORDER.len() {
        table[ASCII_ORDER[i] as usize] = rank;
        rank += 1;
        i += 1;
    }
    let mut letter = 0u8;
    while letter < 26 {
        table[(b'a' + letter) as usize] = rank;
        table[(b'A' + letter) as usize] = rank;
        rank += 1;
        letter += 1;
    }
    table
}

/// The primary weight of a character: its ASCII rank, or above every ASCII rank by code point.
fn primary(c: char) -> u32 {
    let cp = c as u32;
    if cp < 128 { u32::from(ASCII_PRIMARY[cp as usize]) } else { 0x100 + cp }
}

/// The tertiary (case) weight of a character: uppercase ASCII letters after everything else.
fn tertiary(c: char) -> u8 {
    if c.is_ascii_uppercase() { 2 } else { 1 }
}

/// Compares two JSON values in CouchDB view collation order.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    let (ra, rb) = (type_rank(a), type_rank(b));
    if ra != rb {
        return ra.cmp(&rb);
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number(x).total_cmp(&number(y)),
        (Value::String(x), Value::String(y)) => compare_str(x, y),
        (Value::Array(x), Value::Array(y)) => compare_arrays(x, y),
        (Value::Object(x), Value::Object(y)) => compare_objects(x, y),
        // null, false and true are alone in their rank.
        _ => Ordering::Equal,
    }
}

fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Null => NULL,
        Value::Bool(false) => FALSE,
        Value::Bool(true) => TRUE,
        Value::Number(_) => NUMBER,
        Value::String(_) => STRING,
        Value::Array(_) => ARRAY,
        Value::Object(_) => OBJECT,
    }
}

/// A JSON number as JavaScript sees it, with `-0` folded into `0` so both collate (and encode) alike.
fn number(n: &serde_json::Number) -> f64 {
    let f = n.as_f64().unwrap_or(0.0);
    if f == 0.0 { 0.0 } else { f }
}

fn compare_arrays(a: &[Value], b: &[Value]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = compare(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

fn compare_objects(a: &Map<String, Value>, b: &Map<String, Value>) -> Ordering {
    for ((ka, va), (kb, vb)) in a.iter().zip(b) {
        let o = compare_str(ka, kb).then_with(|| compare(va, vb));
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Compares two strings: primary weights over the whole strings first, then case.
pub fn compare_str(a: &str, b: &str) -> Ordering {
    a.chars()
        .map(primary)
        .cmp(b.chars().map(primary))
        .then_with(|| a.chars().map(tertiary).cmp(b.chars().map(tertiary)))
}

/// The sort key of a value: `sort_key(a).cmp(&sort_key(b)) == compare(a, b)` for all `a`, `b`.
pub fn sort_key(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    encode(v, &mut out);
    out
}

/// Appends the sort key of `v` to `out`.
pub fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Number(n) => {
            out.push(NUMBER);
            let bits = number(n).to_bits();
            // Flip the sign bit of positives and every bit of negatives: unsigned order becomes numeric order.
            let ordered = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        Value::String(s) => encode_str(s, out),
        Value::Array(items) => {
            out.push(ARRAY);
            for item in items {
                encode(item, out);
            }
            out.push(END);
        }
        Value::Object(fields) => {
            out.push(OBJECT);
            for (k, v) in fields {
                encode_str(k, out);
                encode(v, out);
            }
            out.push(END);
        }
    }
}

fn encode_str(s: &str, out: &mut Vec<u8>) {
    out.push(STRING);
    for c in s.chars() {
        let w = primary(c);
        if w < u32::from(WIDE) {
            out.push(w as u8);
        } else {
            let [_, b2, b1, b0] = w.to_be_bytes();
            out.extend_from_slice(&[WIDE, b2, b1, b0]);
        }
    }
    out.push(END);
    out.extend(s.chars().map(tertiary));
    out.push(END);
}

/// The end of the encoded value starting at `pos`, or `None` if `key` is not a well-formed sort key there.
fn skip(key: &[u8], pos: usize) -> Option<usize> {
    match *key.get(pos)? {
        NULL | FALSE | TRUE => Some(pos + 1),
        NUMBER => Some(pos + 9).filter(|end| *end <= key.len()),
        STRING => {
            let mut i = pos + 1;
            loop {
                match *key.get(i)? {
                    END => break,
                    WIDE => i += 4,
                    _ => i += 1,
                }
            }
            i += 1;
            while *key.get(i)? != END {
                i += 1;
            }
            Some(i + 1)
        }
        ARRAY => {
            let mut i = pos + 1;
            while *key.get(i)? != END {
                i = skip(key, i)?;
            }
            Some(i + 1)
        }
        OBJECT => {
            let mut i = pos + 1;
            while *key.get(i)? != END {
                i = skip(key, i)?;
                i = skip(key, i)?;
            }
            Some(i + 1)
        }
        _ => None,
    }
}

/// The part of a sort key that identifies its group at `group_level`: the first `level` elements of an array
/// key (without the array's end, so `[a]` and `[a, b]` share the level-1 group), or the whole key otherwise.
pub fn group_prefix(key: &[u8], level: usize) -> &[u8] {
    if key.first() != Some(&ARRAY) {
        return key;
    }
    let mut i = 1;
    for _ in 0..level {
        match key.get(i) {
            Some(&END) | None => break,
            Some(_) => match skip(key, i) {
                Some(next) => i = next,
                None => return key,
            },
        }
    }
    &key[..i.min(key.len())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assert_strictly_ascending(values: &[Value]) {
        for pair in values.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert_eq!(compare(a, b), Ordering::Less, "compare({a}, {b})");
            assert_eq!(compare(b, a), Ordering::Greater, "compare({b}, {a})");
            assert!(sort_key(a) < sort_key(b), "sort_key({a}) < sort_key({b})");
        }
        for v in values {
            assert_eq!(compare(v, v), Ordering::Equal);
        }
    }

    #[test]
    fn types_order_null_false_true_numbers_strings_arrays_objects() {
        assert_strictly_ascending(&[
            json!(null),
            json!(false),
            json!(true),
            json!(-1e300),
            json!(-2),
            json!(-1.5),
            json!(0),
            json!(1),
            json!(1.25),
            json!(2),
            json!(1e300),
            json!(""),
            json!("a"),
            json!([]),
            json!([null]),
            json!([false]),
            json!([1]),
            json!(["a"]),
            json!({}),
            json!({"a": 1}),
        ]);
    }

    #[test]
    fn ascii_order_matches_couchdb_documentation() {
        let documented = "^ _ - , ; : ! ? . ' \" ( ) [ ] { } @ * / \\ & # % ` + < = > | ~ $ 0 1 2 3 4 5 6 7 8 9 \
                          a A b B c C d D e E f F g G h H i I j J k K l L m M n N o O p P q Q r R s S t T u U v V \
                          w W x X y Y z Z";
        let chars: Vec<Value> = documented.split(' ').map(|s| json!(s)).collect();
        assert_eq!(chars.len(), 32 + 10 + 52);
        assert_strictly_ascending(&chars);
        // Space and control characters come before all of them; characters beyond ASCII after all of them.
        assert_strictly_ascending(&[json!("\u{1}"), json!(" "), json!("^"), json!("Z"), json!("é"), json!("ж")]);
    }

    #[test]
    fn letters_compare_without_case_then_lowercase_first() {
        assert_strictly_ascending(&[
            json!("a"),
            json!("A"),
            json!("aa"),
            json!("aA"),
            json!("Aa"),
            json!("AA"),
            json!("ab"),
            json!("aB"),
            json!("Ab"),
            json!("b"),
        ]);
        // Case is only a tie-break: "ab" < "B" although 'B' < 'a' in ASCII.
        assert_eq!(compare(&json!("ab"), &json!("B")), Ordering::Less);
        assert_eq!(compare(&json!("Zebra"), &json!("apple")), Ordering::Greater);
        // Punctuation before digits before letters, and a shorter string before its extensions.
        assert_strictly_ascending(&[json!("a"), json!("a-b"), json!("a1"), json!("ab"), json!("abc")]);
    }

    #[test]
    fn case_tie_break_does_not_leak_past_an_array_element() {
        // "a" < "A" decides, whatever follows.
        assert_strictly_ascending(&[json!(["a", "z"]), json!(["A", "a"])]);
        assert_strictly_ascending(&[json!(["a", "B"]), json!(["A", "b"])]);
        // Equal first elements: the second decides.
        assert_strictly_ascending(&[json!(["A", "a"]), json!(["A", "b"])]);
        assert_strictly_ascending(&[json!({"k": "a", "z": 0}), json!({"k": "A", "a": 0})]);
    }

    #[test]
    fn arrays_compare_elementwise_shorter_first() {
        assert_strictly_ascending(&[
            json!([]),
            json!([1]),
            json!([1, null]),
            json!([1, 2]),
            json!([1, 2, 3]),
            json!([1, 3]),
            json!([2]),
            json!([[]]),
            json!([[1]]),
        ]);
    }

    #[test]
    fn objects_compare_fieldwise_fewer_fields_first() {
        assert_strictly_ascending(&[
            json!({}),
            json!({"a": 1}),
            json!({"a": 1, "b": 0}),
            json!({"a": 2}),
            json!({"b": 0}),
            json!({"b": 0, "a": 0}),
        ]);
    }

    #[test]
    fn empty_object_end_key_closes_a_prefix_range() {
        let acct = "0123456789abcdef0123456789abcdef";
        let end = json!([acct, "pending", {}]);
        let start = json!([acct, "pending"]);
        for n in [json!(-1), json!(0), json!(63_000_000_000_u64), json!(1e300), json!("z"), json!([9])] {
            let row = json!([acct, "pending", n]);
            assert_eq!(compare(&start, &row), Ordering::Less, "{row}");
            assert_eq!(compare(&row, &end), Ordering::Less, "{row}");
            assert!(sort_key(&start) < sort_key(&row) && sort_key(&row) < sort_key(&end), "{row}");
        }
        // Rows of the next status or the next account stay outside.
        for outside in [json!([acct, "processing", 1]), json!([acct, "pendinh", 1]), json!(["1", "pending", 1])] {
            assert_eq!(compare(&end, &outside), Ordering::Less, "{outside}");
            assert!(sort_key(&end) < sort_key(&outside), "{outside}");
        }
        assert_eq!(compare(&end, &json!([acct, "pending", {"a": 1}])), Ordering::Less);
    }

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(compare(&json!(1), &json!(1.0)), Ordering::Equal);
        assert_eq!(sort_key(&json!(1)), sort_key(&json!(1.0)));
        assert_eq!(sort_key(&json!(0.0)), sort_key(&json!(-0.0)));
        assert_eq!(compare(&json!(u64::MAX), &json!(i64::MIN)), Ordering::Greater);
    }

    /// A small deterministic generator, so the property test needs no extra crate and is reproducible.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn string(&mut self) -> String {
            const ALPHABET: &[char] =
                &['a', 'A', 'b', 'B', 'z', '0', '9', '-', '_', ' ', '^', '$', 'é', 'É', '中', '😀'];
            let len = self.below(4);
            (0..len).map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize]).collect()
        }
        fn value(&mut self, depth: u32) -> Value {
            let kinds = if depth == 0 { 6 } else { 8 };
            match self.below(kinds) {
                0 => Value::Null,
                1 => Value::Bool(self.below(2) == 1),
                2 => json!(self.below(5) as i64 - 2),
                3 => json!((self.below(9) as f64 - 4.0) / 2.0),
                4 | 5 => Value::String(self.string()),
                6 => Value::Array((0..self.below(4)).map(|_| self.value(depth - 1)).collect()),
                _ => {
                    let mut m = Map::new();
                    for _ in 0..self.below(3) {
                        m.insert(self.string(), self.value(depth - 1));
                    }
                    Value::Object(m)
                }
            }
        }
    }

    #[test]
    fn sort_keys_order_exactly_like_compare() {
        let mut g = Gen(0x9E37_79B9_7F4A_7C15);
        let values: Vec<Value> = (0..600).map(|_| g.value(3)).collect();
        for a in &values {
            let ka = sort_key(a);
            assert_eq!(skip(&ka, 0), Some(ka.len()), "{a}");
            for b in &values {
                assert_eq!(ka.cmp(&sort_key(b)), compare(a, b), "{a} vs {b}");
            }
        }
        assert!(values.iter().all(|v| sort_key(v).as_slice() < MAX_SORT_KEY));
    }

    #[test]
    fn group_prefixes_truncate_array_keys() {
        let k = |v: Value| sort_key(&v);
        let full = k(json!(["acct", "pending", 12]));
        assert_eq!(group_prefix(&full, 1), group_prefix(&k(json!(["acct"])), 1));
        assert_eq!(group_prefix(&full, 1), group_prefix(&k(json!(["acct", "locked"])), 1));
        assert_ne!(group_prefix(&full, 1), group_prefix(&k(json!(["acct2"])), 1));
        assert_eq!(group_prefix(&full, 2), group_prefix(&k(json!(["acct", "pending", 99])), 2));
        assert_ne!(group_prefix(&full, 2), group_prefix(&k(json!(["acct"])), 2));
        assert_eq!(group_prefix(&full, 9), &full[..full.len() - 1]);
        assert_eq!(group_prefix(&k(json!("acct")), 1), k(json!("acct")).as_slice());
        assert_eq!(group_prefix(&full, 0), &full[..1]);
    }
}
