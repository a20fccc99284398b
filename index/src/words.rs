//! The tokenizer of the free-text field (`text`, the raw line): tantivy's default (split on
//! anything not alphanumeric, lowercase, drop tokens of 40 bytes or more) that also drops
//! *opaque* tokens — runs of 8 or more characters holding a digit that are all digits or all
//! hexadecimal (byte counts, epoch times, the 8- and 12-character parts of a UUID, hex ids,
//! hashes, the dot-free part of a JWT fingerprint).
//!
//! Those tokens are nearly unique per line: they made most of the full-text term dictionary
//! and postings while nobody searches them as words. The values they come from that matter
//! (`jti`, `sub`, `session_id`, `transfer_id`, `job_id`, paths, …) are exact key fields:
//! `jti:…`, `transfer_id:…` find them. Short numbers (a job's `1234.0`, a port, an HTTP
//! status, parts of an IP address or a date) stay searchable as free text. A query is cut
//! into tokens by the same analyzer, so a free-text query holding an opaque token matches on
//! its other words only.

use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, Token, TokenFilter, TokenStream,
    Tokenizer,
};

/// Name under which the analyzer is registered with the index.
pub(crate) const WORDS_TOKENIZER: &str = "tokentrail_words";

/// Opaque tokens are at least this long.
const OPAQUE_MIN_LEN: usize = 8;

/// The free-text analyzer.
pub(crate) fn words_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(DropOpaque)
        .filter(LowerCaser)
        .build()
}

/// True for a token that is an id or a number rather than a word (see the module doc).
pub(crate) fn is_opaque(token: &str) -> bool {
    token.len() >= OPAQUE_MIN_LEN
        && token.bytes().any(|byte| byte.is_ascii_digit())
        && token.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Token filter dropping opaque tokens.
#[derive(Clone)]
struct DropOpaque;

impl TokenFilter for DropOpaque {
    type Tokenizer<T: Tokenizer> = DropOpaqueTokenizer<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> DropOpaqueTokenizer<T> {
        DropOpaqueTokenizer { inner: tokenizer }
    }
}

#[derive(Clone)]
struct DropOpaqueTokenizer<T> {
    inner: T,
}

impl<T: Tokenizer> Tokenizer for DropOpaqueTokenizer<T> {
    type TokenStream<'a> = DropOpaqueStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        DropOpaqueStream {
            tail: self.inner.token_stream(text),
        }
    }
}

struct DropOpaqueStream<T> {
    tail: T,
}

impl<T: TokenStream> TokenStream for DropOpaqueStream<T> {
    fn advance(&mut self) -> bool {
        while self.tail.advance() {
            if !is_opaque(&self.tail.token().text) {
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        let mut analyzer = words_analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    #[test]
    fn drops_uuid_parts_hex_ids_and_long_numbers_but_keeps_words_and_short_numbers() {
        assert_eq!(
            tokens("GET /store/Data size=123456789 id=3f2a9c1e-0b7d-4e5f-8a6b-1c2d3e4f5a6b job 1234.0 from 192.0.2.1 deadbeefcafe"),
            [
                "get", "store", "data", "size", "id", "0b7d", "4e5f", "8a6b", "job", "1234", "0",
                "from", "192", "0", "2", "1", "deadbeefcafe"
            ]
        );
    }
}
