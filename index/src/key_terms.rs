//! An OR of exact key terms (`jti:a OR jti:b OR …`, the trace's lookups by tens of token,
//! session or transfer ids) that costs nothing in a segment that holds none of them.
//!
//! As a [`tantivy::query::BooleanQuery`] of `TermQuery`s, every term built a scorer in every
//! segment, present or not: a few KB each, allocated, zeroed and moved. A trace's lookups
//! spent 70 % of their time there, more the more segments the store has. Tantivy's
//! `TermSetQuery` is no better here: it intersects the term dictionary with an automaton
//! of the terms and fills a bitset of the whole segment. [`KeyTermsQuery`] looks each term
//! up in each segment's dictionary and reads the postings of the terms present only.

use tantivy::query::{ConstScorer, EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, DocSet, Score, SegmentReader, Term, TERMINATED};

/// Matches the documents holding any of its terms.
#[derive(Clone, Debug)]
pub(crate) struct KeyTermsQuery {
    terms: Vec<Term>,
}

impl KeyTermsQuery {
    pub(crate) fn new(mut terms: Vec<Term>) -> Self {
        terms.sort();
        terms.dedup();
        KeyTermsQuery { terms }
    }
}

impl Query for KeyTermsQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(KeyTermsWeight {
            terms: self.terms.clone(),
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for term in &self.terms {
            visitor(term, false);
        }
    }
}

struct KeyTermsWeight {
    terms: Vec<Term>,
}

impl Weight for KeyTermsWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut present = Vec::new();
        let mut field = None;
        let mut inverted = None;
        for term in &self.terms {
            // Terms are sorted, so by field: one inverted index per field.
            if field != Some(term.field()) {
                field = Some(term.field());
                inverted = Some(reader.inverted_index(term.field())?);
            }
            let Some(index) = &inverted else { continue };
            if let Some(postings) = index.read_postings(term, IndexRecordOption::Basic)? {
                present.push(postings);
            }
        }
        Ok(match present.len() {
            0 => Box::new(EmptyScorer),
            1 => Box::new(ConstScorer::new(present.remove(0), boost)),
            _ => {
                let total: usize = present.iter().map(|p| p.size_hint() as usize).sum();
                let docs = if total.saturating_mul(DENSE_FACTOR) >= reader.max_doc() as usize {
                    union_by_bitmap(present, reader.max_doc(), total)
                } else {
                    union_by_sort(present, total)
                };
                Box::new(ConstScorer::new(SortedDocs::new(docs), boost))
            }
        })
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} does not match"
            )));
        }
        Ok(Explanation::new("KeyTermsQuery", 1.0))
    }
}

/// The union of the terms' documents is built in a bitmap of the segment when the terms hold
/// at least one document per this many of the segment's (a bitmap word per 64 documents,
/// scanned once), and by sorting the documents otherwise. A worker node's address at 10 M
/// events made 349 unions of up to 40 000 documents (64 job or session ids of a node, whose
/// events the trace's other conditions then mostly drop): sorting them, 2.15 M documents in
/// all, was a tenth of the trace.
const DENSE_FACTOR: usize = 64;

/// The sorted, distinct documents of `postings`, through a bitmap of `max_doc` bits.
fn union_by_bitmap(
    postings: Vec<tantivy::postings::SegmentPostings>,
    max_doc: DocId,
    total: usize,
) -> Vec<DocId> {
    let mut words = vec![0u64; (max_doc as usize).div_ceil(64)];
    each_doc(postings, |doc| {
        if let Some(word) = words.get_mut(doc as usize / 64) {
            *word |= 1 << (doc % 64);
        }
    });
    let mut docs = Vec::with_capacity(total);
    for (index, &word) in words.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            docs.push(index as DocId * 64 + bits.trailing_zeros());
            bits &= bits - 1;
        }
    }
    docs
}

/// The sorted, distinct documents of `postings`, concatenated and sorted.
fn union_by_sort(postings: Vec<tantivy::postings::SegmentPostings>, total: usize) -> Vec<DocId> {
    let mut docs: Vec<DocId> = Vec::with_capacity(total);
    each_doc(postings, |doc| docs.push(doc));
    docs.sort_unstable();
    docs.dedup();
    docs
}

/// Calls `visit` with every document of every postings list, list after list.
fn each_doc(postings: Vec<tantivy::postings::SegmentPostings>, mut visit: impl FnMut(DocId)) {
    for mut postings in postings {
        let mut doc = postings.doc();
        while doc != TERMINATED {
            visit(doc);
            doc = postings.advance();
        }
    }
}

/// A doc set over sorted, distinct document ids.
struct SortedDocs {
    docs: Vec<DocId>,
    cursor: usize,
}

impl SortedDocs {
    fn new(docs: Vec<DocId>) -> Self {
        SortedDocs { docs, cursor: 0 }
    }
}

impl DocSet for SortedDocs {
    fn advance(&mut self) -> DocId {
        if self.cursor < self.docs.len() {
            self.cursor += 1;
        }
        self.doc()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let rest = &self.docs[self.cursor.min(self.docs.len())..];
        self.cursor += rest.partition_point(|&doc| doc < target);
        self.doc()
    }

    fn doc(&self) -> DocId {
        self.docs.get(self.cursor).copied().unwrap_or(TERMINATED)
    }

    fn size_hint(&self) -> u32 {
        (self.docs.len() - self.cursor.min(self.docs.len())) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::collector::{Count, DocSetCollector};
    use tantivy::query::{BooleanQuery, Occur, TermQuery};
    use tantivy::schema::{Schema, STRING};
    use tantivy::{doc, DocAddress, Index, IndexWriter};

    /// Three segments; `tag` is multi-valued, so one document can hold two of the terms.
    fn index() -> (Index, tantivy::schema::Field, tantivy::schema::Field) {
        let mut schema = Schema::builder();
        let tag = schema.add_text_field("tag", STRING);
        let kind = schema.add_text_field("kind", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for segment in 0..3 {
            for n in 0..50u32 {
                let mut document = doc!(tag => format!("t{}", (n + segment) % 7));
                if n % 5 == 0 {
                    document.add_text(tag, format!("t{}", (n + 3) % 7));
                }
                document.add_text(kind, if n % 2 == 0 { "even" } else { "odd" });
                writer.add_document(document).unwrap();
            }
            writer.commit().unwrap();
        }
        (index, tag, kind)
    }

    /// The matching documents, and how many times they were matched (a document must come
    /// once, even when it holds two of the terms).
    fn hits(index: &Index, query: &dyn Query) -> (std::collections::HashSet<DocAddress>, usize) {
        let searcher = index.reader().unwrap().searcher();
        let set = searcher.search(query, &DocSetCollector).unwrap();
        let count = searcher.search(query, &Count).unwrap();
        (set, count)
    }

    fn or_of_terms(terms: &[Term]) -> BooleanQuery {
        BooleanQuery::new(
            terms
                .iter()
                .map(|term| {
                    let query: Box<dyn Query> =
                        Box::new(TermQuery::new(term.clone(), IndexRecordOption::Basic));
                    (Occur::Should, query)
                })
                .collect(),
        )
    }

    /// Asserts that a `KeyTermsQuery` of the terms `names` of `field` matches what an OR of
    /// term queries matches, each document once; returns how many documents that is.
    fn matches_as_an_or_of_term_queries(
        index: &Index,
        field: tantivy::schema::Field,
        names: &[&str],
    ) -> usize {
        let terms: Vec<Term> = names
            .iter()
            .map(|name| Term::from_field_text(field, name))
            .collect();
        let expected = hits(index, &or_of_terms(&terms));
        let found = hits(index, &KeyTermsQuery::new(terms));
        assert_eq!(found, expected, "{names:?}");
        assert_eq!(found.0.len(), found.1, "{names:?}");
        found.1
    }

    #[test]
    fn matches_what_an_or_of_term_queries_matches() {
        let (index, tag, _) = index();
        assert_eq!(
            index.reader().unwrap().searcher().segment_readers().len(),
            3
        );
        let cases: Vec<Vec<&str>> = vec![
            vec!["t1", "t4", "t1"],
            vec!["t0", "t3", "t5", "absent"],
            vec!["absent", "nowhere"],
            vec!["t2"],
            vec![],
        ];
        for names in cases {
            matches_as_an_or_of_term_queries(&index, tag, &names);
        }
    }

    /// One segment of 3 000 documents: a few rare terms are united by sorting, terms
    /// holding many documents through a bitmap; both give what an OR of term queries gives.
    #[test]
    fn sparse_and_dense_unions_match_alike() {
        let mut schema = Schema::builder();
        let tag = schema.add_text_field("tag", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for n in 0..3_000u32 {
            let mut document = doc!(tag => format!("u{n}"));
            document.add_text(tag, format!("c{}", n % 4));
            writer.add_document(document).unwrap();
        }
        writer.commit().unwrap();
        let cases: Vec<Vec<&str>> = vec![
            // 3 documents: 3 × 64 < 3 000, sorted.
            vec!["u2999", "u5", "u17"],
            // ~1 500 documents, one of them twice: a bitmap.
            vec!["c0", "c3", "u4", "u8", "absent"],
            // The segment's first and last documents through the bitmap.
            vec!["c1", "u0", "u2999"],
        ];
        for names in cases {
            let found = matches_as_an_or_of_term_queries(&index, tag, &names);
            assert!(found > 0, "{names:?}");
        }
    }

    #[test]
    fn intersects_with_other_conditions() {
        // An AND drives the doc set by `seek`.
        let (index, tag, kind) = index();
        let terms: Vec<Term> = ["t1", "t2", "t6"]
            .iter()
            .map(|name| Term::from_field_text(tag, name))
            .collect();
        let even: Box<dyn Query> = Box::new(TermQuery::new(
            Term::from_field_text(kind, "even"),
            IndexRecordOption::Basic,
        ));
        let with = |query: Box<dyn Query>| {
            BooleanQuery::new(vec![(Occur::Must, query), (Occur::Must, even.box_clone())])
        };
        let expected = hits(&index, &with(Box::new(or_of_terms(&terms))));
        let found = hits(&index, &with(Box::new(KeyTermsQuery::new(terms))));
        assert!(expected.1 > 0);
        assert_eq!(found, expected);
    }

    #[test]
    fn sorted_docs_advance_and_seek() {
        let mut docs = SortedDocs::new(vec![2, 5, 9, 40]);
        assert_eq!(docs.doc(), 2);
        assert_eq!(docs.advance(), 5);
        assert_eq!(docs.seek(6), 9);
        assert_eq!(docs.seek(9), 9);
        assert_eq!(docs.size_hint(), 2);
        assert_eq!(docs.seek(41), TERMINATED);
        assert_eq!(docs.advance(), TERMINATED);
        assert_eq!(SortedDocs::new(Vec::new()).doc(), TERMINATED);
    }
}
