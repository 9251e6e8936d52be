//! The command line: argument definitions and dispatch to the library.
