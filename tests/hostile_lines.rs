//! Properties of the line reader (`tokentrail::input::LineReader`): whatever the bytes and
//! however the source hands them over, lines come back whole (or cut at the cap), with exact
//! offsets and numbers, and memory never holds more than the cap of one line.

use std::io::Read;

use proptest::prelude::*;
use tokentrail::input::LineReader;

/// A reader that hands over at most `chunk` bytes per call, and sometimes `Interrupted`.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    chunks: Vec<usize>,
    call: usize,
}

impl Read for Trickle {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        self.call += 1;
        let chunk = self.chunks[self.call % self.chunks.len()];
        if chunk == 0 {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = chunk.min(buffer.len()).min(self.data.len() - self.at);
        buffer[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

proptest! {
    #[test]
    fn lines_round_trip_with_offsets_under_any_chunking(
        lines in proptest::collection::vec(proptest::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..300), 0..30),
        terminated in any::<bool>(),
        cap in 1usize..400,
        chunks in proptest::collection::vec(0usize..700, 1..8),
    ) {
        prop_assume!(chunks.iter().any(|c| *c > 0));
        let mut data = lines.join(&b'\n');
        if terminated && !lines.is_empty() {
            data.push(b'\n');
        }
        // What a reader must see: split at LF; an unterminated empty tail is no line.
        let mut expected: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
        if expected.last().is_some_and(|last| last.is_empty()) {
            expected.pop();
        }
        let total = data.len() as u64;
        let mut reader = LineReader::new(
            Trickle { data: data.clone(), at: 0, chunks, call: 0 },
            cap,
        );
        let mut line = Vec::new();
        let mut offset = 0u64;
        for (index, want) in expected.iter().enumerate() {
            let position = reader.next_line(&mut line).unwrap().expect("a line");
            prop_assert_eq!(position.number, index as u64 + 1);
            prop_assert_eq!(position.offset, offset);
            prop_assert_eq!(position.truncated, want.len() > cap);
            prop_assert_eq!(&line[..], &want[..want.len().min(cap)]);
            prop_assert!(line.len() <= cap);
            offset += want.len() as u64 + 1;
            prop_assert_eq!(position.terminated, offset <= total);
        }
        prop_assert!(reader.next_line(&mut line).unwrap().is_none());
        prop_assert_eq!(reader.offset(), total);
    }
}

#[test]
fn crlf_is_left_for_the_parser_and_a_lone_cr_is_not_a_line_end() {
    let mut reader = LineReader::new(&b"a\r\nb\rc\n"[..], 100);
    let mut line = Vec::new();
    reader.next_line(&mut line).unwrap().unwrap();
    assert_eq!(line, b"a\r");
    reader.next_line(&mut line).unwrap().unwrap();
    assert_eq!(line, b"b\rc");
    assert!(reader.next_line(&mut line).unwrap().is_none());
}
