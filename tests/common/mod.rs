//! What the CLI's root tests share.

/// True as root. Otherwise the test skips with a message, unless `BTRTUNE_REQUIRE_ROOT=1`
/// (CI), which makes the skip a failure.
pub fn require_root() -> bool {
    if nix::unistd::Uid::effective().is_root() {
        return true;
    }
    assert!(
        std::env::var("BTRTUNE_REQUIRE_ROOT").as_deref() != Ok("1"),
        "this test needs root (BTRTUNE_REQUIRE_ROOT=1)"
    );
    eprintln!("SKIPPED: needs root");
    false
}
