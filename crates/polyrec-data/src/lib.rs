//! polyrec-data (being written).
