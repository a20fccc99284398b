//! `tokentrail simulate`: a coherent synthetic grid site written in the real log formats,
//! with the ground truth of who did what. Not yet written.
