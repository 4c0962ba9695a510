//! Benchmark of the ingest: a facter report, a disko.nix and a metrics bundle parsed.
//!
//! Run alone (the machine is shared): `cargo bench -p btrtune-advisor --bench ingest`.
//! Needs `../shared` beside the checkout (the facter corpus).

use btrtune_advisor::disko::{self, parse};
use btrtune_advisor::hardware::facter;
use btrtune_advisor::metrics::bundle;
use btrtune_advisor::plan;
use btrtune_advisor::profiles::ToolDb;
use btrtune_advisor::toolstack::Toolstack;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::PathBuf;

fn bench(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let facter_text = std::fs::read_to_string(
        root.join("../../shared/corpus/facter/framework13-amd-nvme-laptop.json"),
    )
    .expect("../shared/corpus/facter beside the checkout");
    let storinator = std::fs::read_to_string(
        root.join("../../shared/corpus/facter/storinator-hba-20x-hdd-server.json"),
    )
    .expect("corpus");
    let db = ToolDb::bundled().expect("tools");
    let p = plan::plan(
        &Toolstack::example("workstation").expect("example"),
        &db,
        None,
        None,
    )
    .expect("plan");
    let disko_text = disko::emit(&p);
    let dir = tempfile::tempdir().expect("tempdir");
    let disko_file = dir.path().join("disko.nix");
    std::fs::write(&disko_file, &disko_text).expect("write");
    let module = root.join("tests/fixtures/disko/module/default.nix");
    let bundle_dir = root.join("tests/fixtures/bundle/loop-btrfs");
    let opts = parse::ParseOptions::default();

    let mut g = c.benchmark_group("ingest");
    g.bench_function("facter: framework13 (2 disks)", |b| {
        b.iter(|| black_box(facter::parse(&facter_text, "f").expect("facter")))
    });
    g.bench_function("facter: storinator (22 disks)", |b| {
        b.iter(|| black_box(facter::parse(&storinator, "f").expect("facter")))
    });
    g.bench_function("disko: plan output (workstation)", |b| {
        b.iter(|| black_box(parse::parse_file(&disko_file, &opts).expect("disko")))
    });
    g.bench_function("disko: NixOS module with an import", |b| {
        b.iter(|| black_box(parse::parse_file(&module, &opts).expect("disko")))
    });
    g.bench_function("metrics: bundle from btrtune collect", |b| {
        b.iter(|| black_box(bundle::read(&bundle_dir).expect("bundle")))
    });
    g.bench_function("all three: facter + disko + bundle", |b| {
        b.iter(|| {
            black_box((
                facter::parse(&facter_text, "f").expect("facter"),
                parse::parse_file(&disko_file, &opts).expect("disko"),
                bundle::read(&bundle_dir).expect("bundle"),
            ))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
