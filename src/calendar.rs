//! Office hours and Swedish public holidays in Europe/Stockholm.
