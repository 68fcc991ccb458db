//! The fast path of event parsing: the common shape of a message, read directly.
//!
//! Reading through serde_json's derive machinery cost about 400 ns of the 1.2 µs an
//! event cost end to end (measured with `perf`; see BENCHMARKS.md), most of it generic
//! visitor work for nineteen optional fields. Producers write nearly every message in
//! one shape: an object whose values are strings, integers, booleans, `null`, or (for
//! `queues`) an array of strings, plus perhaps fields of the producer's own, of any JSON
//! value. This reader takes exactly that shape, strictly, and gives up — returns `None`
//! — on anything else: a control character in a string, an escape in a key or an
//! invalid one (a lone surrogate), a number with a fraction or exponent in a known
//! field, a nested value in a known field or nested too deep in another, a known field
//! given twice, any syntax error. The caller then parses with serde_json, which stays
//! the authority. So the fast path yields either the very `RawEvent` serde_json would,
//! or nothing; a property test checks that on random and mutated messages.

use std::borrow::Cow;

use super::{QueueNames, RawEvent, RawTs};

/// Reads `text` when it has the common shape; `None` means "ask serde_json".
pub(super) fn scan<'a>(text: &'a str, raw: &mut RawEvent<'a>) -> Option<()> {
    // In a message without a backslash (an escape) or control characters (nearly all:
    // they are only allowed as whitespace between tokens) a string ends at the next
    // quote. Both are known from one pass over the message, which the compiler
    // vectorises; looking for all three kinds of byte in every string instead was 15 %
    // of parsing's instructions (`callgrind`), and parsing took 7 % less time without it.
    // (`memchr` for the quote was slower: strings are short.)
    let (backslash, control) = text
        .bytes()
        .fold((false, false), |(bs, ctl), b| (bs | (b == b'\\'), ctl | (b < 0x20)));
    // The reader is compiled twice, so that the common message pays nothing for escapes.
    if backslash {
        read(Cursor::<true>::new(text, !control), raw)
    } else {
        read(Cursor::<false>::new(text, !control), raw)
    }
}

/// Reads the message at `c` into `raw`.
#[inline(always)]
fn read<'a, const ESCAPES: bool>(mut c: Cursor<'a, ESCAPES>, raw: &mut RawEvent<'a>) -> Option<()> {
    let mut seen: u32 = 0;
    c.ws();
    c.eat(b'{')?;
    c.ws();
    if c.eat(b'}').is_none() {
        loop {
            let key = c.string()?;
            c.ws();
            c.eat(b':')?;
            c.ws();
            let bit = match key {
                "id" => 0,
                "type" => 1,
                "ts" => 2,
                "contact_id" => 3,
                "channel" => 4,
                "queue" => 5,
                "customer_id" => 6,
                "topic" => 7,
                "segment" => 8,
                "repeat" => 9,
                "agent_id" => 10,
                "to_queue" => 11,
                "resolved" => 12,
                "score" => 13,
                "scale" => 14,
                "state" => 15,
                "team" => 16,
                "queues" => 17,
                "reason" => 18,
                "kind" => 19,
                _ => {
                    c.skip_value()?;
                    32
                }
            };
            if bit < 32 {
                if seen & (1 << bit) != 0 {
                    // serde_json reports a repeated field; let it.
                    return None;
                }
                seen |= 1 << bit;
                match bit {
                    0 => raw.id = c.opt_str()?,
                    1 => raw.kind = c.opt_str()?,
                    2 => raw.ts = c.opt_ts()?,
                    3 => raw.contact_id = c.opt_str()?,
                    4 => raw.channel = c.opt_str()?,
                    5 => raw.queue = c.opt_str()?,
                    6 => raw.customer_id = c.opt_str()?,
                    7 => raw.topic = c.opt_str()?,
                    8 => raw.segment = c.opt_str()?,
                    9 => raw.repeat = c.opt_bool()?,
                    10 => raw.agent_id = c.opt_str()?,
                    11 => raw.to_queue = c.opt_str()?,
                    12 => raw.resolved = c.opt_bool()?,
                    13 => raw.score = c.opt_int()?,
                    14 => raw.scale = c.opt_str()?,
                    15 => raw.state = c.opt_str()?,
                    16 => raw.team = c.opt_str()?,
                    17 => raw.queues = c.opt_str_array()?,
                    18 => raw.reason = c.opt_str()?,
                    _ => raw.survey_kind = c.opt_str()?,
                }
            }
            c.ws();
            if c.eat(b',').is_some() {
                c.ws();
                continue;
            }
            c.eat(b'}')?;
            break;
        }
    }
    c.ws();
    (c.pos == c.bytes.len()).then_some(())
}

/// The position of the first quote in `bytes`, read eight bytes at a time.
///
/// A byte loop cost about six instructions per byte, and a line's ids and time stamp are
/// 24–36 bytes each: they were two thirds of the string reader's instructions
/// (`callgrind`). A word at a time costs about as much per eight bytes, and a short
/// string (most names) is one word; `memchr` costs more to call than a short string
/// costs to read.
#[inline(always)]
fn next_quote(bytes: &[u8]) -> Option<usize> {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut at = 0;
    while let Some(group) = bytes.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(group);
        // A byte is a quote when it XOR `"` is zero, and a byte `x` is zero when neither
        // its high bit nor that of `(x & 0x7f) + 0x7f` is set: exact, since no sum
        // carries into the next byte. The lowest high bit set is the first quote.
        let x = u64::from_le_bytes(word) ^ 0x2222_2222_2222_2222;
        let quotes = !(((x & LOW7) + LOW7) | x | LOW7);
        if quotes != 0 {
            return Some(at + quotes.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = bytes.get(at..)?;
    tail.iter().position(|&b| b == b'"').map(|i| at + i)
}

/// How deep the fast path follows objects and arrays in a field it skips (a field the
/// contract does not name); past it, serde_json reads the message.
const MAX_SKIPPED_DEPTH: usize = 32;

/// A position in the message. Every method returns `None` when the input leaves the
/// fast path's shape. `ESCAPES`: the message has a backslash, so some string may have an
/// escape.
struct Cursor<'a, const ESCAPES: bool> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// The message has no control character: a string ends at the next quote (unless
    /// it is escaped).
    plain: bool,
}

impl<'a, const ESCAPES: bool> Cursor<'a, ESCAPES> {
    fn new(text: &'a str, plain: bool) -> Self {
        Cursor {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            plain,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Skips JSON whitespace (which is only these four).
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.bytes.get(self.pos..self.pos + word.len())? == word {
            self.pos += word.len();
            Some(())
        } else {
            None
        }
    }

    /// A string without escapes or control characters, borrowed from the message.
    #[inline(always)]
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        let rest = self.bytes.get(start..)?;
        // The message has no escape (see `scan`); without control characters either, the
        // next quote ends the string.
        let len = if self.plain {
            next_quote(rest)?
        } else {
            let len = rest.iter().position(|&b| b == b'"' || b < 0x20)?;
            if rest.get(len) != Some(&b'"') {
                return None;
            }
            len
        };
        // In a message with escapes, a backslash before the quote found means an escaped
        // quote, or an escape the caller must decode: `value` does that.
        if ESCAPES && rest.get(..len)?.contains(&b'\\') {
            return None;
        }
        self.pos = start + len + 1;
        // Both ends are at an ASCII quote, so the slice is on character boundaries.
        self.text.get(start..start + len)
    }

    /// A string value, its escapes decoded as serde_json decodes them: borrowed from the
    /// message when it has none. (Python's `json.dumps` escapes every non-ASCII letter,
    /// and one escape sent the whole message to serde_json, at twice the cost.)
    #[inline(always)]
    fn value(&mut self) -> Option<Cow<'a, str>> {
        if !ESCAPES {
            return self.string().map(Cow::Borrowed);
        }
        self.escaped_value()
    }

    /// [`Cursor::value`] in a message with a backslash, a byte at a time.
    #[cold]
    #[inline(never)]
    fn escaped_value(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let mut decoded: Option<String> = None;
        let mut run = self.pos;
        loop {
            match *self.bytes.get(self.pos)? {
                b'"' => {
                    // The runs end at ASCII bytes, so they are on character boundaries.
                    let tail = self.text.get(run..self.pos)?;
                    self.pos += 1;
                    return Some(match decoded {
                        None => Cow::Borrowed(tail),
                        Some(mut text) => {
                            text.push_str(tail);
                            Cow::Owned(text)
                        }
                    });
                }
                b'\\' => {
                    let text = decoded.get_or_insert_with(String::new);
                    text.push_str(self.text.get(run..self.pos)?);
                    self.pos += 1;
                    text.push(self.escape()?);
                    run = self.pos;
                }
                0..=0x1f => return None,
                _ => self.pos += 1,
            }
        }
    }

    /// The character of the escape after a backslash; `None` for an invalid one or a
    /// lone surrogate (serde_json refuses both).
    fn escape(&mut self) -> Option<char> {
        let c = match self.peek()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                self.pos += 1;
                let unit = self.hex4()?;
                let code = match unit {
                    0xD800..=0xDBFF => {
                        self.literal(b"\\u")?;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return None;
                        }
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    _ => unit,
                };
                // A lone low surrogate is no character.
                return char::from_u32(code);
            }
            _ => return None,
        };
        self.pos += 1;
        Some(c)
    }

    /// Four hexadecimal digits.
    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.pos..self.pos + 4)?;
        let mut unit = 0;
        for &d in digits {
            unit = unit * 16 + char::from(d).to_digit(16)?;
        }
        self.pos += 4;
        Some(unit)
    }

    /// `null` → `Some(None)`; a value read by `read` → `Some(Some(v))`.
    fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        read(self).map(Some)
    }

    fn opt_str(&mut self) -> Option<Option<Cow<'a, str>>> {
        self.nullable(Self::value)
    }

    fn opt_bool(&mut self) -> Option<Option<bool>> {
        self.nullable(|c| match c.peek()? {
            b't' => c.literal(b"true").map(|_| true),
            b'f' => c.literal(b"false").map(|_| false),
            _ => None,
        })
    }

    fn opt_int(&mut self) -> Option<Option<i64>> {
        self.nullable(Self::integer)
    }

    fn opt_ts(&mut self) -> Option<Option<RawTs<'a>>> {
        self.nullable(|c| {
            if c.peek()? == b'"' {
                c.value().map(RawTs::Text)
            } else {
                c.integer().map(RawTs::Millis)
            }
        })
    }

    fn opt_str_array(&mut self) -> Option<Option<QueueNames<'a>>> {
        self.nullable(|c| {
            c.eat(b'[')?;
            c.ws();
            let mut out = QueueNames::new();
            if c.eat(b']').is_some() {
                return Some(out);
            }
            loop {
                out.push(c.value()?);
                c.ws();
                if c.eat(b',').is_some() {
                    c.ws();
                    continue;
                }
                c.eat(b']')?;
                return Some(out);
            }
        })
    }

    /// An integer as JSON writes it, with at most 18 digits (so it fits an `i64`
    /// whatever they are); a fraction, an exponent or `-0` leaves the fast path.
    fn integer(&mut self) -> Option<i64> {
        let negative = self.eat(b'-').is_some();
        let start = self.pos;
        let mut value: i64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            if self.pos - start == 18 {
                return None;
            }
            value = value * 10 + i64::from(d - b'0');
            self.pos += 1;
        }
        let digits = self.pos - start;
        let leading_zero = digits > 1 && self.bytes.get(start) == Some(&b'0');
        // serde_json reads `-0` as a float, which the integer fields refuse.
        let minus_zero = negative && value == 0;
        if digits == 0 || leading_zero || minus_zero || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(if negative { -value } else { value })
    }

    /// The value of a field the contract does not name: any JSON value, its strings
    /// read as [`Cursor::value`] reads them (an escape in a nested key leaves the fast
    /// path), objects and arrays nested up to [`MAX_SKIPPED_DEPTH`] deep. (Producers add
    /// fields of their own, nested ones too, and the contract ignores them: serde_json
    /// read a line with one nested field in 2.2 times the instructions, `cachegrind`.)
    /// Deeper values leave the fast path.
    fn skip_value(&mut self) -> Option<()> {
        self.skip_nested(0)
    }

    fn skip_nested(&mut self, depth: usize) -> Option<()> {
        let close = match self.peek()? {
            b'"' => return self.value().map(drop),
            b't' => return self.literal(b"true"),
            b'f' => return self.literal(b"false"),
            b'n' => return self.literal(b"null"),
            b'[' => b']',
            b'{' => b'}',
            _ => return self.number(),
        };
        if depth == MAX_SKIPPED_DEPTH {
            return None;
        }
        self.pos += 1;
        self.ws();
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            if close == b'}' {
                self.string()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
            }
            self.skip_nested(depth + 1)?;
            self.ws();
            if self.eat(b',').is_some() {
                self.ws();
                continue;
            }
            return self.eat(close);
        }
    }

    /// Any JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.pos;
        self.digits();
        (self.pos > start).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The fast path into a fresh raw event.
    fn scan(text: &str) -> Option<RawEvent<'_>> {
        let mut raw = RawEvent::default();
        super::scan(text, &mut raw).map(|()| raw)
    }

    const KEYS: &[&str] = &[
        "id",
        "type",
        "ts",
        "contact_id",
        "channel",
        "queue",
        "customer_id",
        "topic",
        "segment",
        "repeat",
        "agent_id",
        "to_queue",
        "resolved",
        "score",
        "scale",
        "state",
        "team",
        "queues",
        "reason",
        "kind",
        "extra",
        "Id",
    ];

    /// Values the fast path must read itself.
    const PLAIN: &[&str] = &[
        r#""a1""#,
        r#""""#,
        r#""contact.offered""#,
        r#""2026-11-22T09:00:00.120Z""#,
        r#""é€ 漢""#,
        // A UUID, and a value long enough for a message of several hundred bytes.
        r#""f8536748-8672-4ba1-a1aa-766ce255cec1""#,
        concat!(
            "\"",
            "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
            "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
            "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
            "\""
        ),
        "0",
        "7",
        "-3",
        "1795338903120",
        "999999999999999999",
        "true",
        "false",
        "null",
        r#"["billing", "sales"]"#,
        "[]",
        r#"[ "a" ]"#,
        // Escapes, as Python's json.dumps writes non-ASCII letters.
        r#""a\"b""#,
        r#""a\\b\/""#,
        r#""Facturaci\u00f3n \u00C9t\u00e9""#,
        r#""\ud83d\ude00 \b\f\n\r\t""#,
        r#""2026-11-22T09:00:00\u002e120Z""#,
        // Values only a field the contract does not name may have.
        r#"{"a": 1}"#,
        "[1]",
        "{}",
        "[[], {}]",
        r#"{"site":"north","tags":["a","b"],"n":{"x":-0.5e3,"y":[true,false,null]}}"#,
        "[ 1 , -0 , 1.5E+2 ,\n\"é\" ]",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    ];

    /// Values that may or may not be on the fast path, including invalid JSON.
    const HAZARDS: &[&str] = &[
        r#""\x""#,
        r#""\u12""#,
        r#""\u00G0""#,
        r#""\ud83d""#,
        r#""\ude00""#,
        r#""\ud83d\u0041""#,
        r#""\ud83dx""#,
        r#""\""#,
        r#""a\"#,
        "\"\\\u{1}\"",
        r#""a\"b""#,
        r#""a\\b""#,
        r#""\u0069d""#,
        "\"tab\there\"",
        "-0",
        "01",
        "1.5",
        "1e3",
        "-0.0",
        "1E+2",
        "1.",
        ".5",
        "-",
        "9999999999999999999",
        "18446744073709551616",
        "tru",
        "nul",
        "True",
        r#"{"a" 1}"#,
        r#"{"a":1,}"#,
        r#"{"a":}"#,
        "{1:2}",
        r#"{"a":1"#,
        "[1,]",
        "[01]",
        "[1 2]",
        r#"{"a":[1}"#,
        r#"{"a\u0062":1}"#,
        "{\"a\":\"tab\there\"}",
        // Past the fast path's depth, and past serde_json's recursion limit.
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        r#"["a",]"#,
        r#"["a" "b"]"#,
        "[",
        "\"unterminated",
        "",
    ];

    /// JSON whitespace.
    fn space() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["", "", "", " ", "\n", "\t", "\r\n "])
    }

    fn member(values: &'static [&'static str]) -> impl Strategy<Value = String> {
        (
            prop::sample::select(KEYS),
            space(),
            space(),
            prop::sample::select(values),
        )
            .prop_map(|(k, s1, s2, v)| format!("\"{k}\"{s1}:{s2}{v}"))
    }

    /// A hazard: a value off the common shape, an escaped key, or a form feed (which JSON
    /// does not count as whitespace).
    fn hazard() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => member(HAZARDS),
            1 => prop::sample::select(KEYS).prop_map(|k| format!("\"{}\":1", k.replacen('d', "\\u0064", 1))),
            1 => member(PLAIN).prop_map(|m| format!("\u{c}{m}")),
        ]
    }

    /// An object of plain members.
    fn object() -> impl Strategy<Value = String> {
        (prop::collection::vec((member(PLAIN), space()), 0..8), space(), space()).prop_map(
            |(members, before, after)| {
                let body: Vec<String> = members.into_iter().map(|(m, s)| format!("{m}{s}")).collect();
                format!("{before}{{{}}}{after}", body.join(","))
            },
        )
    }

    /// Plain members with at most one hazard among them, then perhaps cut short, a byte
    /// inserted, or something appended.
    fn message() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(member(PLAIN), 0..6),
            prop::option::weighted(0.7, (hazard(), any::<prop::sample::Index>())),
            0usize..6,
            any::<prop::sample::Index>(),
            prop::sample::select(vec!["x", ",", "}", "]", "\"", " {}", "\\", ":", "\u{0}"]),
        )
            .prop_map(|(mut members, hazard, how, at, junk)| {
                if let Some((h, i)) = hazard {
                    members.insert(i.index(members.len() + 1), h);
                }
                let text = format!("{{{}}}", members.join(","));
                let mut cut = at.index(text.len() + 1);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                match how {
                    3 => text[..cut].to_owned(),
                    4 => format!("{}{junk}{}", &text[..cut], &text[cut..]),
                    5 => format!("{text}{junk}"),
                    _ => text,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Whatever the fast path reads, serde_json reads the same way.
        #[test]
        fn agrees_with_serde_json(text in message()) {
            if let Some(fast) = scan(&text) {
                let slow: Result<RawEvent<'_>, _> = serde_json::from_str(&text);
                prop_assert_eq!(Some(fast), slow.ok(), "{}", text);
            }
        }

        /// Messages of the common shape that serde_json reads never leave the fast path
        /// (serde_json refuses a repeated field, and so does the fast path).
        #[test]
        fn reads_the_common_shape(text in object()) {
            if let Ok(slow) = serde_json::from_str::<RawEvent<'_>>(&text) {
                prop_assert_eq!(scan(&text), Some(slow), "{}", text);
            }
        }
    }

    proptest! {
        /// The first quote, found a word at a time, is the first quote.
        #[test]
        fn next_quote_finds_the_first_quote(bytes in prop::collection::vec(
            prop::sample::select(vec![b'"', b'a', 0u8, 0x22 ^ 0x80, 0xa2, 0x7f, 0xff, 0x21, 0x23, 0x02]),
            0..40,
        )) {
            prop_assert_eq!(next_quote(&bytes), bytes.iter().position(|&b| b == b'"'));
        }
    }

    #[test]
    fn hand_picked_cases() {
        let ok = r#" {"id":"e1","type":"agent.state","ts":1795338903120,"queues":["a", "b"],"extra":1.5e3,"x":null} "#;
        let raw = scan(ok).expect("common shape");
        assert_eq!(raw.id.as_deref(), Some("e1"));
        assert_eq!(raw.ts, Some(RawTs::Millis(1_795_338_903_120)));
        assert_eq!(raw.queues.map(|q| q.len()), Some(2));
        // Strings of every length up to 600 bytes, ending at every position of a word.
        for pad in 0..600 {
            let text = format!(
                r#"{{"id":"{}","type":"x"}}"#,
                "é".repeat(pad / 2) + &"a".repeat(pad % 2)
            );
            let raw = scan(&text).expect("common shape");
            assert_eq!(raw.kind.as_deref(), Some("x"), "{} bytes", text.len());
            assert_eq!(raw.id.map(|id| id.len()), Some(pad / 2 * 2 + pad % 2));
        }
        let nested = r#"{"id":"e1","meta":{"site":"north","tags":["a",1,{"b":null}],"x":-1.5e-3},"type":"x"}"#;
        assert_eq!(scan(nested).and_then(|raw| raw.kind).as_deref(), Some("x"));
        let deep = |levels: usize| format!(r#"{{"type":"x","extra":{}{}}}"#, "[".repeat(levels), "]".repeat(levels));
        assert!(
            scan(&deep(MAX_SKIPPED_DEPTH)).is_some(),
            "as deep as the fast path follows"
        );
        assert!(scan(&deep(MAX_SKIPPED_DEPTH + 1)).is_none(), "deeper");
        let escaped = scan(r#"{"id":"e\"1","queue":"Facturaci\u00f3n","queues":["\ud83d\ude00"],"x":{"y":"\n"}}"#)
            .expect("escapes");
        assert_eq!(escaped.id.as_deref(), Some("e\"1"));
        assert_eq!(escaped.queue.as_deref(), Some("Facturación"));
        assert_eq!(escaped.queues.map(|q| q.concat()).as_deref(), Some("😀"));
        for fallback in [
            r#"{"i\u0064":"e1"}"#,
            r#"{"id":"\ud800"}"#,
            r#"{"id":"e1","id":"e2"}"#,
            r#"{"score":-0}"#,
            r#"{"score":5.0}"#,
            r#"{"score":[1]}"#,
            r#"{"queues":[1]}"#,
            r#"{"extra":{"nested":"\u006"}}"#,
            r#"{"id":"e1"} x"#,
            r#"{"id":"e1",}"#,
            "[]",
        ] {
            assert!(scan(fallback).is_none(), "{fallback}");
        }
    }
}
