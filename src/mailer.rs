//! Email notices with lettre: a short Swedish notice, never any content.
