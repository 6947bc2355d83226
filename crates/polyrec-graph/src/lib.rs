//! polyrec-graph (being written).
