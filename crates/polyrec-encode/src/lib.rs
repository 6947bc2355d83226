//! polyrec-encode (being written).
