//! System metrics and user observations: parsers for what `df`, `btrfs`, `iostat`, `iotop`
//! and `/proc/pressure/io` print, and the mapping of free-text observations to categories.
