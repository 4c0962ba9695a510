//! Benchmark of `plan`: toolstack + hardware -> Layout -> disko.nix, NixOS module and
//! explanation, for each bundled example, plus loading the tools database.
//!
//! Run alone (the machine is shared): `cargo bench -p btrtune-advisor --bench plan`.

use btrtune_advisor::profiles::ToolDb;
use btrtune_advisor::toolstack::{EXAMPLES, Toolstack};
use btrtune_advisor::{disko, explain, nixos, plan};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    c.bench_function("load bundled tools database", |b| {
        b.iter(|| black_box(ToolDb::bundled().expect("bundled database")))
    });
    let db = ToolDb::bundled().expect("bundled database");
    let mut g = c.benchmark_group("plan");
    for (name, _) in EXAMPLES {
        let ts = Toolstack::example(name).expect("example");
        g.bench_function(format!("{name}: layout only"), |b| {
            b.iter(|| black_box(plan::plan(&ts, &db, None, None).expect("plan")))
        });
        g.bench_function(format!("{name}: layout + all outputs"), |b| {
            b.iter(|| {
                let p = plan::plan(&ts, &db, None, None).expect("plan");
                black_box((disko::emit(&p), nixos::emit(&p), explain::explain(&p)))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
