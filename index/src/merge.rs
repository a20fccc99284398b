//! How the tantivy store merges its segments: tantivy's log-size levels, with a ceiling on
//! the size of the segment a merge builds.
//!
//! Tantivy's default [`LogMergePolicy`] merges a level once it holds 8 segments of similar
//! size, so segments grow without bound: a 50 M-event ingest ended in merges of segments of
//! tens of millions of events. A merge reads every input segment through the index files
//! the process maps (those pages count in its resident memory until the inputs are let go)
//! and its buffers grow with the segments: the ingest's peak RSS grew with the corpus
//! (483 MiB at 1 M events, 1.0 GiB at 10 M, 4.1 GiB at 50 M), and so did the CPU per event,
//! as every event was rewritten once more per level. With a ceiling, a merge never takes
//! more than [`MAX_MERGED_DOCS`] events, so what it maps and buffers no longer depends on
//! the corpus, and a store of N events ends with N / [`MAX_MERGED_DOCS`] to
//! 2N / [`MAX_MERGED_DOCS`] segments of full size, plus the recent small ones.
//!
//! Measured on simulated sites of 10 M and 50 M events (BENCHMARKS.md): a ceiling of 2 M
//! events with two merges at a time kept the ingest's peak RSS at 1.06 GB at 10 M and
//! 1.48 GB at 50 M (two large merges at once mapped 770 MB); 1 M events, one merge at a
//! time: 0.82 GB at 10 M and 0.99 GB at 50 M, ingest CPU per event 69 and 72 CPU-s per M
//! events (113 at 50 M with tantivy's policy), 22 segments at 10 M instead of 14. Lookups
//! pay a little per segment: a trace of an identity with few events went from p50 14 to
//! 28 ms, and back to 15 ms once an OR of key terms stopped building scorers for absent
//! terms ([`crate::key_terms`]).

use tantivy::index::{SegmentId, SegmentMeta};
use tantivy::indexer::{LogMergePolicy, MergeCandidate, MergePolicy};

/// The most events one merge puts in a segment.
pub(crate) const MAX_MERGED_DOCS: u32 = 1_000_000;

/// Tantivy's log merge policy with a ceiling of `max_docs` events on the segment a merge
/// builds.
#[derive(Debug)]
pub(crate) struct BoundedMergePolicy {
    levels: LogMergePolicy,
    max_docs: u32,
}

impl BoundedMergePolicy {
    pub(crate) fn new(max_docs: u32) -> Self {
        let mut levels = LogMergePolicy::default();
        // A segment of more than half the ceiling cannot meet another one in a merge under
        // it: leave it out of the levels, as the default does for segments above 10 M.
        levels.set_max_docs_before_merge((max_docs / 2) as usize);
        BoundedMergePolicy { levels, max_docs }
    }
}

impl Default for BoundedMergePolicy {
    fn default() -> Self {
        BoundedMergePolicy::new(MAX_MERGED_DOCS)
    }
}

impl MergePolicy for BoundedMergePolicy {
    fn compute_merge_candidates(&self, segments: &[SegmentMeta]) -> Vec<MergeCandidate> {
        let sizes = |ids: &[SegmentId]| -> Vec<(SegmentId, u32)> {
            ids.iter()
                .filter_map(|id| {
                    segments
                        .iter()
                        .find(|meta| meta.id() == *id)
                        .map(|meta| (*id, meta.num_docs()))
                })
                .collect()
        };
        self.levels
            .compute_merge_candidates(segments)
            .into_iter()
            .flat_map(|candidate| bounded_groups(&sizes(&candidate.0), self.max_docs))
            // A group of one segment is no merge.
            .filter(|group| group.len() > 1)
            .map(MergeCandidate)
            .collect()
    }
}

/// Cuts `segments` (id and live events) into groups of consecutive segments of at most
/// `max_docs` events in all; a segment of more than `max_docs` is a group of its own.
pub(crate) fn bounded_groups(segments: &[(SegmentId, u32)], max_docs: u32) -> Vec<Vec<SegmentId>> {
    let mut groups: Vec<Vec<SegmentId>> = Vec::new();
    let mut current: Vec<SegmentId> = Vec::new();
    let mut docs = 0u64;
    for &(id, num_docs) in segments {
        if !current.is_empty() && docs + u64::from(num_docs) > u64::from(max_docs) {
            groups.push(std::mem::take(&mut current));
            docs = 0;
        }
        current.push(id);
        docs += u64::from(num_docs);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// The fewest small segments worth merging at the end of an ingest. A small store ends with
/// one to three segments, which lookups hardly notice, and merging them rewrites every event:
/// a 187 000-event ingest took 1.26× as long merging its two segments into one.
pub(crate) const MIN_TAIL_SEGMENTS: usize = 4;

/// The merges that end an ingest: the segments below half the ceiling — those tantivy's levels
/// leave behind when the input ends (a level merges only once it holds 8 segments), and which
/// every lookup pays for as much as for a full one — packed into as few segments under the
/// ceiling as they fit in (first fit, largest first). Each group holds two segments or more.
/// At 10 M events such a tail was 11 of 22 segments, 1.4 M events. A tail of fewer than
/// [`MIN_TAIL_SEGMENTS`] is left alone.
pub(crate) fn tail_groups(segments: &[(SegmentId, u32)], max_docs: u32) -> Vec<Vec<SegmentId>> {
    let mut tail: Vec<(SegmentId, u32)> = segments
        .iter()
        .copied()
        .filter(|&(_, docs)| docs < max_docs / 2)
        .collect();
    if tail.len() < MIN_TAIL_SEGMENTS {
        return Vec::new();
    }
    tail.sort_by_key(|&(id, docs)| (std::cmp::Reverse(docs), id));
    let mut bins: Vec<(u64, Vec<SegmentId>)> = Vec::new();
    for (id, docs) in tail {
        let docs = u64::from(docs);
        match bins
            .iter_mut()
            .find(|(filled, _)| filled + docs <= u64::from(max_docs))
        {
            Some((filled, group)) => {
                *filled += docs;
                group.push(id);
            }
            None => bins.push((docs, vec![id])),
        }
    }
    bins.into_iter()
        .map(|(_, group)| group)
        .filter(|group| group.len() > 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::schema::{Schema, STORED};

    fn metas(sizes: &[u32]) -> Vec<SegmentMeta> {
        let mut schema = Schema::builder();
        schema.add_text_field("x", STORED);
        let index = tantivy::Index::create_in_ram(schema.build());
        sizes
            .iter()
            .map(|&docs| index.new_segment_meta(SegmentId::generate_random(), docs))
            .collect()
    }

    fn docs_of(group: &[SegmentId], metas: &[SegmentMeta]) -> u32 {
        group
            .iter()
            .map(|id| metas.iter().find(|m| m.id() == *id).unwrap().num_docs())
            .sum()
    }

    #[test]
    fn groups_stay_under_the_ceiling_and_keep_every_segment_once() {
        let ids: Vec<_> = (0..7).map(|_| SegmentId::generate_random()).collect();
        let sizes = [400, 300, 300, 250, 900, 1500, 100];
        let segments: Vec<_> = ids.iter().copied().zip(sizes).collect();
        let groups = bounded_groups(&segments, 1000);
        let docs: Vec<u32> = groups
            .iter()
            .map(|group| {
                group
                    .iter()
                    .map(|id| segments.iter().find(|(s, _)| s == id).unwrap().1)
                    .sum()
            })
            .collect();
        // Consecutive segments while they fit; one above the ceiling stands alone.
        assert_eq!(docs, vec![1000, 250, 900, 1500, 100]);
        let flat: Vec<_> = groups.concat();
        assert_eq!(flat, ids);
        assert!(bounded_groups(&[], 1000).is_empty());
    }

    #[test]
    fn the_tail_is_packed_under_the_ceiling_and_full_segments_stay() {
        // The segments of a 10 M-event store after its ingest, in thousands of events.
        let sizes = [
            968, 931, 909, 901, 877, 851, 834, 693, 633, 550, 511, 492, 197, 185, 173, 172, 69, 51,
            40, 24, 12, 11,
        ];
        let segments: Vec<(SegmentId, u32)> = sizes
            .iter()
            .map(|&docs| (SegmentId::generate_random(), docs))
            .collect();
        let size_of = |id: &SegmentId| segments.iter().find(|(s, _)| s == id).unwrap().1;
        let groups = tail_groups(&segments, 1000);
        let merged: Vec<SegmentId> = groups.concat();
        // Every segment below half the ceiling is merged, once; none above it.
        let mut tail: Vec<u32> = merged.iter().map(size_of).collect();
        tail.sort_unstable();
        assert_eq!(tail, vec![11, 12, 24, 40, 51, 69, 172, 173, 185, 197, 492]);
        for group in &groups {
            assert!(group.len() > 1);
            assert!(group.iter().map(size_of).sum::<u32>() <= 1000, "{group:?}");
        }
        // 11 segments become 2: the store ends with 13.
        assert_eq!(groups.len(), 2);
        // Nothing to do for a store of full segments, or of fewer small ones than are worth
        // merging; from that many on, they are merged.
        assert!(tail_groups(&segments[..12], 1000).is_empty());
        let few = &segments[12..12 + MIN_TAIL_SEGMENTS - 1];
        assert!(tail_groups(few, 1000).is_empty());
        let enough = &segments[12..12 + MIN_TAIL_SEGMENTS];
        assert_eq!(tail_groups(enough, 1000).concat().len(), MIN_TAIL_SEGMENTS);
        assert!(tail_groups(&[], 1000).is_empty());
    }

    #[test]
    fn a_full_level_is_merged_in_pieces_under_the_ceiling() {
        // Nine segments of one level: tantivy's policy merges all nine at once (3 600 events).
        let metas = metas(&[400; 9]);
        let unbounded = LogMergePolicy::default().compute_merge_candidates(&metas);
        assert_eq!(unbounded.len(), 1);
        assert_eq!(unbounded[0].0.len(), 9);

        let candidates = BoundedMergePolicy::new(1000).compute_merge_candidates(&metas);
        // 2 + 2 + 2 + 2 segments; the ninth waits for a later merge.
        assert_eq!(candidates.len(), 4);
        for candidate in &candidates {
            assert_eq!(candidate.0.len(), 2);
            assert!(docs_of(&candidate.0, &metas) <= 1000);
        }
    }

    #[test]
    fn segments_above_half_the_ceiling_are_left_alone() {
        // Eight segments of 600 could only merge into a segment above the ceiling of 1 000;
        // below the level size tantivy merges, nothing at all.
        let policy = BoundedMergePolicy::new(1000);
        assert!(policy
            .compute_merge_candidates(&metas(&[600; 8]))
            .is_empty());
        assert!(policy
            .compute_merge_candidates(&metas(&[100; 7]))
            .is_empty());
        let small = metas(&[100; 8]);
        let candidates = policy.compute_merge_candidates(&small);
        assert_eq!(candidates.len(), 1);
        assert_eq!(docs_of(&candidates[0].0, &small), 800);
    }
}
