//! polyrec-eval (being written).
