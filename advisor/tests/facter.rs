//! The nixos-facter ingest against the real reports in `../shared/corpus/facter` (its README
//! lists what a person reads off each), against drifted variants of them (the format changes
//! nixos-facter went through since 2024, made by editing the JSON here), against malformed
//! input, and a property test: no input makes the reader panic.

use btrtune_advisor::AdvisorError;
use btrtune_advisor::hardware::facter::{self, Report};
use btrtune_advisor::hardware::{
    Confidence, CpuModelSource, DeviceClass, DiskInfo, MemorySource, SkipReason,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::OnceLock;

const FRAMEWORK: &str = "framework13-amd-nvme-laptop.json";
const THINKCENTRE: &str = "thinkcentre-sata-ssd-desktop.json";
const T420: &str = "thinkpad-t420-sata-hdd-laptop.json";
const TOWER: &str = "tower-mixed-nvme-sata-ssd-hdd-desktop.json";
const STORINATOR: &str = "storinator-hba-20x-hdd-server.json";
const NETCUP: &str = "netcup-kvm-virtio-blk-vm.json";
const ORACLE: &str = "oracle-arm-cloud-virtio-scsi-vm.json";
const PI: &str = "raspberrypi-sdcard-aarch64.json";
const CORPUS: [&str; 8] = [
    FRAMEWORK,
    THINKCENTRE,
    T420,
    TOWER,
    STORINATOR,
    NETCUP,
    ORACLE,
    PI,
];

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Helpers

/// `../shared/corpus/facter` beside the checkout.
fn corpus_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/facter");
    assert!(
        d.is_dir(),
        "tests need ../shared beside the checkout (looked in {})",
        d.display()
    );
    d
}

fn text(name: &str) -> String {
    std::fs::read_to_string(corpus_dir().join(name)).unwrap()
}

/// Every corpus file, read once (the largest is 300 kB).
fn cached(name: &str) -> &'static (String, Value) {
    static CACHE: OnceLock<Vec<(String, (String, Value))>> = OnceLock::new();
    let all = CACHE.get_or_init(|| {
        CORPUS
            .iter()
            .map(|n| {
                let t = text(n);
                let v = serde_json::from_str(&t).unwrap();
                (n.to_string(), (t, v))
            })
            .collect()
    });
    &all.iter().find(|(n, _)| n == name).unwrap().1
}

fn report(name: &str) -> Report {
    facter::parse_report(&cached(name).0, &format!("corpus/facter/{name}")).unwrap()
}

fn value(name: &str) -> Value {
    cached(name).1.clone()
}

fn reparse(v: &Value) -> Result<Report, AdvisorError> {
    facter::parse_report(&serde_json::to_string(v).unwrap(), "variant.json")
}

fn ok(v: &Value) -> Report {
    reparse(v).unwrap()
}

/// The one disk whose stable name contains `needle`.
fn disk<'a>(r: &'a Report, needle: &str) -> &'a DiskInfo {
    let found: Vec<_> = r
        .profile
        .disks
        .iter()
        .filter(|d| d.device.contains(needle))
        .collect();
    assert_eq!(found.len(), 1, "disks matching {needle}: {found:#?}");
    found[0]
}

/// Decimal GB, one decimal, as the README gives sizes.
fn gb(bytes: Option<u64>) -> f64 {
    (bytes.unwrap() as f64 / 1e8).round() / 10.0
}

/// Every caveat message at `path`, joined; fails when there is none.
fn caveat_at(r: &Report, path: &str) -> String {
    let all: Vec<&str> = r
        .details
        .caveats
        .iter()
        .filter(|c| c.path == path)
        .map(|c| c.message.as_str())
        .collect();
    assert!(
        !all.is_empty(),
        "no caveat at {path}: {:#?}",
        r.details.caveats
    );
    all.join(" | ")
}

fn input_error(e: AdvisorError) -> (String, usize, usize, String) {
    match e {
        AdvisorError::Input {
            path,
            line,
            column,
            message,
        } => (path, line, column, message),
        other => panic!("expected an input error, got {other:?}"),
    }
}

fn error_of(v: &Value) -> String {
    let (path, line, _, message) = input_error(reparse(v).unwrap_err());
    assert_eq!((path.as_str(), line), ("variant.json", 0));
    message
}

/// Every disk entry in a report value.
fn disks_mut(v: &mut Value) -> &mut Vec<Value> {
    v["hardware"]["disk"].as_array_mut().unwrap()
}

// ---------------------------------------------------------------------------------------------
// The corpus, file by file

#[test]
fn framework13_nvme_laptop() {
    let r = report(FRAMEWORK);
    let (p, d) = (&r.profile, &r.details);
    assert_eq!(p.system.as_deref(), Some("x86_64-linux"));
    assert_eq!(p.virtualisation.as_deref(), Some("none"));
    assert_eq!(d.report_version, Some(1));
    assert_eq!(d.uefi, Some(true));
    assert_eq!(p.source, format!("facter.json: corpus/facter/{FRAMEWORK}"));

    // CPU: model_name present, double space collapsed.
    let cpu = &d.cpu;
    assert_eq!(
        cpu.model.as_deref(),
        Some("AMD Ryzen 7 7840U w/ Radeon 780M Graphics")
    );
    assert_eq!(cpu.model_source, Some(CpuModelSource::ModelName));
    assert_eq!(p.cpu_model, cpu.model);
    assert_eq!(cpu.architecture.as_deref(), Some("x86_64"));
    assert_eq!(cpu.vendor.as_deref(), Some("AuthenticAMD"));
    assert_eq!(
        (cpu.sockets, cpu.cores, cpu.threads),
        (Some(1), Some(8), Some(16))
    );
    assert_eq!(p.cpu_threads, Some(16));
    assert_eq!(cpu.page_size, Some(4096));
    let f = cpu.features.as_ref().unwrap();
    assert!(f.avx2 && f.sse4_2 && f.aes && f.pclmulqdq && f.sha_ni);
    assert!(f.avx512.contains(&"avx512f".to_string()) && f.has_avx512());
    assert!(f.crc32c_in_hardware() && f.sha256_in_hardware());
    assert!(!f.crc32 && !f.asimd);
    assert_eq!(p.cpu_avx2, Some(true));

    // RAM: SMBIOS 2 × 16 GiB; phys_mem 30 GiB.
    assert_eq!(p.ram_bytes, Some(32 * GIB));
    assert_eq!(d.memory.source, Some(MemorySource::Smbios));
    assert_eq!(d.memory.smbios_modules, 2);
    assert_eq!(d.memory.phys_mem_bytes, Some(30 * GIB));

    // Disks: the NVMe and a Lexar USB stick.
    assert_eq!(p.disks.len(), 2);
    let nvme = disk(&r, "nvme-Samsung_SSD_970");
    assert_eq!(
        nvme.device,
        "/dev/disk/by-id/nvme-Samsung_SSD_970_EVO_Plus_2TB_S4J4NG0M922749W"
    );
    assert_eq!(nvme.kernel_name.as_deref(), Some("/dev/nvme0n1"));
    assert_eq!(
        (nvme.class, nvme.class_confidence),
        (DeviceClass::Nvme, Confidence::High)
    );
    assert_eq!(nvme.size_bytes, Some(3_907_029_168 * 512));
    assert_eq!(gb(nvme.size_bytes), 2000.4);
    assert_eq!(nvme.model.as_deref(), Some("Samsung SSD 970 EVO Plus 2TB"));
    // The vendor is only a PCI id (0x144d) in this report.
    assert_eq!(nvme.vendor.as_deref(), Some("Samsung"));
    assert_eq!(nvme.bus.as_deref(), Some("NVME"));
    assert_eq!(nvme.driver.as_deref(), Some("nvme"));
    assert_eq!(nvme.driver_modules, ["nvme"]);
    assert_eq!(nvme.class_reason, "driver nvme: an NVMe SSD");

    let usb = disk(&r, "usb-Lexar");
    assert_eq!(usb.kernel_name.as_deref(), Some("/dev/sda"));
    assert_eq!(
        (usb.class, usb.class_confidence, usb.inner_class),
        (DeviceClass::Usb, Confidence::High, None)
    );
    assert_eq!(gb(usb.size_bytes), 248.1);
    assert_eq!(usb.model.as_deref(), Some("Lexar USB Flash Drive"));
    assert_eq!(usb.vendor.as_deref(), Some("Lexar"));
    assert_eq!(usb.bus.as_deref(), Some("SCSI"));
    assert_eq!(usb.driver.as_deref(), Some("usb-storage"));
    assert_eq!(usb.driver_modules, ["sd_mod", "usb_storage"]);

    assert_eq!(p.system_disk().unwrap().device, nvme.device);
    assert!(d.skipped.is_empty(), "{:?}", d.skipped);
    assert!(d.caveats.is_empty(), "{:?}", d.caveats);
}

#[test]
fn thinkcentre_sata_ssd_known_only_by_model() {
    let r = report(THINKCENTRE);
    let (p, d) = (&r.profile, &r.details);
    assert_eq!(p.system.as_deref(), Some("x86_64-linux"));
    assert_eq!(p.virtualisation.as_deref(), Some("none"));
    assert_eq!(
        p.cpu_model.as_deref(),
        Some("Intel(R) Core(TM) i5-4570T CPU @ 2.90GHz")
    );
    assert_eq!(d.cpu.model_source, Some(CpuModelSource::ModelName));
    assert_eq!(
        (d.cpu.sockets, d.cpu.cores, d.cpu.threads),
        (Some(1), Some(2), Some(4))
    );
    assert_eq!(p.cpu_avx2, Some(true));
    // 8 GiB + 4 GiB modules.
    assert_eq!(p.ram_bytes, Some(12 * GIB));
    assert_eq!(d.memory.source, Some(MemorySource::Smbios));
    assert_eq!(d.memory.smbios_modules, 2);

    assert_eq!(p.disks.len(), 1);
    let ssd = &p.disks[0];
    assert_eq!(
        ssd.device,
        "/dev/disk/by-id/ata-HFS500G32TND-N1A2A_FJ71N506410501D45"
    );
    assert_eq!(ssd.model.as_deref(), Some("HFS500G32TND-N1A"));
    assert_eq!(
        (ssd.class, ssd.class_confidence),
        (DeviceClass::SataSsd, Confidence::Medium)
    );
    assert!(
        ssd.class_reason.contains("SK hynix"),
        "{}",
        ssd.class_reason
    );
    assert_eq!(gb(ssd.size_bytes), 500.1);
    assert_eq!(ssd.bus.as_deref(), Some("IDE"));
    assert_eq!(ssd.driver.as_deref(), Some("ahci"));
    assert!(d.caveats.is_empty(), "{:?}", d.caveats);
}

#[test]
fn t420_hitachi_is_an_hdd() {
    let r = report(T420);
    let (p, d) = (&r.profile, &r.details);
    // No model_name: the SMBIOS processor version is a real CPU name.
    assert_eq!(
        p.cpu_model.as_deref(),
        Some("Intel(R) Core(TM) i3-2310M CPU @ 2.10GHz")
    );
    assert_eq!(d.cpu.model_source, Some(CpuModelSource::SmbiosProcessor));
    assert_eq!(
        (d.cpu.sockets, d.cpu.cores, d.cpu.threads),
        (Some(1), Some(2), Some(4))
    );
    // Sandy Bridge i3: SSE4.2 and PCLMULQDQ, no AVX2, no AES-NI.
    let f = d.cpu.features.as_ref().unwrap();
    assert!(f.sse4_2 && f.pclmulqdq);
    assert!(!f.avx2 && !f.aes && !f.sha_ni && !f.has_avx512());
    assert_eq!(p.cpu_avx2, Some(false));
    // 2 × 4 GiB; the kernel sees 7.5 GiB.
    assert_eq!(p.ram_bytes, Some(8 * GIB));
    assert_eq!(d.memory.source, Some(MemorySource::Smbios));
    assert_eq!(d.memory.phys_mem_bytes, Some(7 * GIB + 512 * MIB));

    assert_eq!(p.disks.len(), 1);
    let hdd = &p.disks[0];
    assert_eq!(
        hdd.device,
        "/dev/disk/by-id/ata-HITACHI_HTS725032A9A364_100801PCK304VKKVP91J"
    );
    assert_eq!(hdd.model.as_deref(), Some("HITACHI HTS72503"));
    assert_eq!(hdd.vendor.as_deref(), Some("HITACHI"));
    assert_eq!(
        (hdd.class, hdd.class_confidence),
        (DeviceClass::Hdd, Confidence::Medium)
    );
    assert_eq!(
        hdd.class_reason,
        "model HTS725032A9A364 is a Hitachi Travelstar HDD family"
    );
    assert_eq!(gb(hdd.size_bytes), 320.1);
    assert_eq!(hdd.driver.as_deref(), Some("ahci"));
    assert!(d.caveats.is_empty(), "{:?}", d.caveats);
}

#[test]
fn tower_four_disks_of_three_classes() {
    let r = report(TOWER);
    let (p, d) = (&r.profile, &r.details);
    assert_eq!(
        p.cpu_model.as_deref(),
        Some("Intel(R) Core(TM) i7-6700K CPU @ 4.00GHz")
    );
    assert_eq!(d.cpu.model_source, Some(CpuModelSource::SmbiosProcessor));
    assert_eq!(
        (d.cpu.sockets, d.cpu.cores, d.cpu.threads),
        (Some(1), Some(4), Some(8))
    );
    assert_eq!(p.cpu_avx2, Some(true));
    assert_eq!(p.ram_bytes, Some(32 * GIB));
    assert_eq!(d.memory.smbios_modules, 4);

    assert_eq!(p.disks.len(), 4);
    let nvme = disk(&r, "nvme-WD_Blue_SN570_1TB");
    assert_eq!(nvme.class, DeviceClass::Nvme);
    assert_eq!(gb(nvme.size_bytes), 1000.2);
    // {"value": 5559} only: PCI vendor 0x15b7.
    assert_eq!(nvme.vendor.as_deref(), Some("SanDisk"));

    let s840 = disk(&r, "ata-Samsung_SSD_840_PRO_Series");
    assert_eq!(s840.model.as_deref(), Some("Samsung SSD 840"));
    assert_eq!(
        (s840.class, s840.class_confidence),
        (DeviceClass::SataSsd, Confidence::Medium)
    );
    assert_eq!(gb(s840.size_bytes), 128.0);

    let trion = disk(&r, "ata-OCZ-TRION100");
    assert_eq!(trion.class, DeviceClass::SataSsd);
    assert_eq!(gb(trion.size_bytes), 960.2);

    let spinpoint = disk(&r, "ata-SAMSUNG_HD154UI");
    assert_eq!(
        spinpoint.device,
        "/dev/disk/by-id/ata-SAMSUNG_HD154UI_S1XWJ1WZ404248"
    );
    assert_eq!(
        (spinpoint.class, spinpoint.class_confidence),
        (DeviceClass::Hdd, Confidence::Medium)
    );
    assert!(spinpoint.class_reason.contains("SpinPoint"));
    assert_eq!(gb(spinpoint.size_bytes), 1500.3);

    // The SATA disks: ahci, built in, so no driver_modules.
    for d in [s840, trion, spinpoint] {
        assert_eq!(d.driver.as_deref(), Some("ahci"));
        assert!(d.driver_modules.is_empty());
        assert_eq!(d.bus.as_deref(), Some("IDE"));
    }
    assert_eq!(p.system_disk().unwrap().device, nvme.device);
    assert!(d.caveats.is_empty(), "{:?}", d.caveats);
}

#[test]
fn storinator_hdds_behind_hbas_and_ssds_on_ahci() {
    let r = report(STORINATOR);
    let (p, d) = (&r.profile, &r.details);
    assert_eq!(
        p.cpu_model.as_deref(),
        Some("Intel(R) Xeon(R) Silver 4216 CPU @ 2.10GHz")
    );
    assert_eq!(
        (d.cpu.sockets, d.cpu.cores, d.cpu.threads),
        (Some(1), Some(16), Some(32))
    );
    assert!(d.cpu.features.as_ref().unwrap().has_avx512());
    // 4 × 32 GiB in 8 slots.
    assert_eq!(p.ram_bytes, Some(128 * GIB));
    assert_eq!(d.memory.smbios_modules, 4);

    // The README says 10 + 10 HDDs; the file lists 10 Seagate and 9 WD.
    assert_eq!(p.disks.len(), 22);
    let of = |c: DeviceClass| p.disks.iter().filter(|d| d.class == c).collect::<Vec<_>>();
    let hdds = of(DeviceClass::Hdd);
    assert_eq!(hdds.len(), 19);
    let seagate = hdds
        .iter()
        .filter(|d| d.model.as_deref() == Some("ST20000NE000-3G5"))
        .count();
    let wd = hdds
        .iter()
        .filter(|d| d.model.as_deref() == Some("WDC WD201KFGX-68"))
        .count();
    assert_eq!((seagate, wd), (10, 9));
    for h in &hdds {
        assert!(h.device.starts_with("/dev/disk/by-id/ata-"), "{}", h.device);
        assert_eq!(h.driver.as_deref(), Some("mpt3sas"));
        assert_eq!(h.bus.as_deref(), Some("IDE"));
        assert_eq!(h.class_confidence, Confidence::Medium);
        assert_eq!(gb(h.size_bytes), 20000.6);
    }

    let ssds = of(DeviceClass::SataSsd);
    assert_eq!(ssds.len(), 2);
    for s in &ssds {
        assert_eq!(s.model.as_deref(), Some("HDSTOR - HSAV25S"));
        assert_eq!(s.driver.as_deref(), Some("ahci"));
        assert_eq!(gb(s.size_bytes), 250.1);
        assert!(
            s.class_reason.contains("HSAV25ST250AX"),
            "{}",
            s.class_reason
        );
    }

    let stick = disk(&r, "usb-Samsung_Flash_Drive_FIT");
    assert_eq!((stick.class, stick.inner_class), (DeviceClass::Usb, None));
    assert_eq!(gb(stick.size_bytes), 64.2);

    // The boot SSDs, not the big HDDs, hold the system.
    assert_eq!(p.system_disk().unwrap().class, DeviceClass::SataSsd);
    assert!(d.caveats.is_empty(), "{:?}", d.caveats);
}

#[test]
fn netcup_kvm_virtio_blk() {
    let r = report(NETCUP);
    let (p, d) = (&r.profile, &r.details);
    assert_eq!(p.system.as_deref(), Some("x86_64-linux"));
    assert_eq!(p.virtualisation.as_deref(), Some("kvm"));
    // pc-i440fx-9.2 is QEMU's machine type, not a CPU.
    assert_eq!(p.cpu_model, None);
    assert!(caveat_at(&r, "smbios.processor[0].version").contains("pc-i440fx-9.2"));
    // 4 vCPUs as 4 sockets of one core.
    assert_eq!(
        (d.cpu.sockets, d.cpu.cores, d.cpu.threads),
        (Some(4), Some(4), Some(4))
    );
    assert_eq!(p.cpu_avx2, Some(true));
    assert_eq!(p.ram_bytes, Some(4 * GIB));
    assert_eq!(d.memory.source, Some(MemorySource::Smbios));
    assert_eq!(d.memory.phys_mem_bytes, Some(3 * GIB + 768 * MIB));

    assert_eq!(p.disks.len(), 1);
    let vda = &p.disks[0];
    // Only by-path names: the kernel name it is.
    assert_eq!(vda.device, "/dev/vda");
    assert_eq!(vda.kernel_name.as_deref(), Some("/dev/vda"));
    assert_eq!(
        (vda.class, vda.class_confidence),
        (DeviceClass::Virtio, Confidence::High)
    );
    assert_eq!(gb(vda.size_bytes), 137.4);
    assert_eq!(vda.driver.as_deref(), Some("virtio-pci"));
    assert_eq!(vda.driver_modules, ["virtio_blk", "virtio_pci"]);
    assert_eq!(vda.bus, None);
    // hwinfo's placeholder model "Disk" is no model.
    assert_eq!((vda.model.as_deref(), vda.vendor.as_deref()), (None, None));

    // The QEMU DVD drive, listed under hardware.cdrom.
    assert_eq!(d.skipped.len(), 1);
    assert_eq!(d.skipped[0].device, "/dev/sr0");
    assert_eq!(d.skipped[0].reason, SkipReason::Optical);
}

#[test]
fn oracle_arm_vm_has_no_core_count() {
    let r = report(ORACLE);
    let (p, d) = (&r.profile, &r.details);
    assert_eq!(p.system.as_deref(), Some("aarch64-linux"));
    assert_eq!(p.virtualisation.as_deref(), Some("kvm"));
    assert_eq!(d.cpu.architecture.as_deref(), Some("aarch64"));
    assert_eq!(d.cpu.vendor.as_deref(), Some("ARM Limited"));
    assert_eq!(p.cpu_model, None);
    // Unknown, said explicitly.
    assert_eq!(
        (d.cpu.sockets, d.cpu.cores, d.cpu.threads),
        (None, None, None)
    );
    assert_eq!(p.cpu_threads, None);
    assert!(caveat_at(&r, "hardware.cpu").contains("no core or thread count"));
    let f = d.cpu.features.as_ref().unwrap();
    assert!(f.crc32 && f.asimd && f.aes && f.pmull && f.sha2);
    assert!(f.crc32c_in_hardware() && f.sha256_in_hardware());
    assert_eq!(p.cpu_avx2, Some(false));
    // No SMBIOS memory devices: the kernel's figure.
    assert_eq!(p.ram_bytes, Some(24 * GIB));
    assert_eq!(d.memory.source, Some(MemorySource::PhysMem));
    assert_eq!((d.memory.smbios_bytes, d.memory.smbios_modules), (None, 0));

    assert_eq!(p.disks.len(), 1);
    let vol = &p.disks[0];
    // Only a SCSI NAA id and a wwn: the NAA id (stable, never the wwn- name).
    assert_eq!(
        vol.device,
        "/dev/disk/by-id/scsi-360ca40f3255a4d989b3e16f1a82d258f"
    );
    assert_eq!(vol.kernel_name.as_deref(), Some("/dev/sda"));
    assert_eq!(vol.model.as_deref(), Some("ORACLE BlockVolume"));
    assert_eq!(
        (vol.class, vol.class_confidence),
        (DeviceClass::Virtio, Confidence::High)
    );
    assert_eq!(vol.driver.as_deref(), Some("virtio_scsi"));
    assert_eq!(vol.bus.as_deref(), Some("SCSI"));
    assert_eq!(gb(vol.size_bytes), 107.4);
}

#[test]
fn raspberry_pi_sd_card_and_ram_disks() {
    let r = report(PI);
    let (p, d) = (&r.profile, &r.details);
    assert_eq!(p.system.as_deref(), Some("aarch64-linux"));
    assert_eq!(p.virtualisation.as_deref(), Some("none"));
    assert_eq!(
        (d.cpu.sockets, d.cpu.cores, d.cpu.threads),
        (None, None, None)
    );
    assert!(caveat_at(&r, "hardware.cpu").contains("unknown"));
    // Cortex-A53 without the crypto extension.
    let f = d.cpu.features.as_ref().unwrap();
    assert!(f.crc32 && f.asimd);
    assert!(!f.aes && !f.pmull && !f.sha2);
    // smbios is {}: 416 MiB from phys_mem.
    assert_eq!(p.ram_bytes, Some(416 * MIB));
    assert_eq!(d.memory.source, Some(MemorySource::PhysMem));

    assert_eq!(p.disks.len(), 1);
    let sd = &p.disks[0];
    assert_eq!(sd.device, "/dev/disk/by-id/mmc-SC16G_0x41c23916");
    assert_eq!(sd.kernel_name.as_deref(), Some("/dev/mmcblk0"));
    assert_eq!(
        (sd.class, sd.class_confidence),
        (DeviceClass::Sd, Confidence::Medium)
    );
    assert_eq!(sd.driver.as_deref(), Some("sdhost-bcm2835"));
    assert!(sd.driver_modules.is_empty());
    assert_eq!(gb(sd.size_bytes), 15.9);

    // 16 RAM disks of 4 MiB, skipped with a reason.
    assert_eq!(d.skipped.len(), 16);
    let mut names: Vec<_> = d.skipped.iter().map(|s| s.device.clone()).collect();
    names.sort();
    let mut expected: Vec<_> = (0..16).map(|i| format!("/dev/ram{i}")).collect();
    expected.sort();
    assert_eq!(names, expected);
    assert!(d.skipped.iter().all(|s| s.reason == SkipReason::RamDisk));
    assert!(d.skipped.iter().all(|s| s.size_bytes == Some(4 * MIB)));
}

#[test]
fn read_and_parse_agree() {
    for name in CORPUS {
        let path = corpus_dir().join(name);
        let from_file = facter::read_report(&path).unwrap();
        let parsed = facter::parse(&text(name), &path.display().to_string()).unwrap();
        assert_eq!(from_file.profile, parsed, "{name}");
        assert_eq!(facter::read(&path).unwrap(), parsed, "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Format drift: each variant reads like the file it came from.

#[test]
fn ids_as_bare_strings_and_numbers() {
    let base = report(T420);
    let mut v = value(T420);
    for d in disks_mut(&mut v) {
        d["bus_type"] = json!("IDE");
        d["vendor"] = json!("HITACHI");
        d["device"] = json!("HTS72503");
        d["sub_class"] = json!(0);
        d["base_class"] = json!(262);
    }
    let r = ok(&v);
    assert_eq!(r.profile, base.profile.clone().with_source("variant.json"));

    // A bare bus number maps to hwinfo's name.
    disks_mut(&mut v)[0]["bus_type"] = json!(133);
    assert_eq!(ok(&v).profile.disks[0].bus.as_deref(), Some("IDE"));

    // `{value}` only (before November 2024), and `{hex}` only.
    let mut v = value(FRAMEWORK);
    for (i, d) in disks_mut(&mut v).iter_mut().enumerate() {
        d["bus_type"] = if i == 0 {
            json!({"value": 150})
        } else {
            json!({"hex": "0084"})
        };
        d["vendor"] = if i == 0 {
            json!({"hex": "144d"})
        } else {
            json!({"name": "Lexar"})
        };
    }
    let r = ok(&v);
    assert_eq!(disk(&r, "nvme-").bus.as_deref(), Some("NVME"));
    assert_eq!(disk(&r, "nvme-").vendor.as_deref(), Some("Samsung"));
    assert_eq!(disk(&r, "usb-").bus.as_deref(), Some("SCSI"));
    assert_eq!(disk(&r, "usb-").vendor.as_deref(), Some("Lexar"));
}

#[test]
fn hex_strings_for_numbers() {
    let base = report(FRAMEWORK);
    let mut v = value(FRAMEWORK);
    for d in disks_mut(&mut v) {
        for res in d["resources"].as_array_mut().unwrap() {
            if res["type"] == "size" {
                let n = res["value_1"].as_u64().unwrap();
                res["value_1"] = json!(format!("0x{n:x}"));
                res["value_2"] = json!("512");
            }
        }
    }
    let cpu = &mut v["hardware"]["cpu"][0];
    cpu["cores"] = json!("0x8");
    cpu["siblings"] = json!("16");
    cpu["page_size"] = json!("0x1000");
    v["hardware"]["memory"][0]["resources"][0]["range"] = json!("0x780000000");
    for m in v["smbios"]["memory_device"].as_array_mut().unwrap() {
        let kib = m["size"].as_u64().unwrap();
        m["size"] = json!(format!("0x{kib:x}"));
    }
    v["version"] = json!("1");
    let r = ok(&v);
    assert_eq!(r.profile, base.profile.with_source("variant.json"));
    assert_eq!(r.details.cpu, base.details.cpu);
    assert_eq!(r.details.memory, base.details.memory);
    assert_eq!(r.details.report_version, Some(1));
}

#[test]
fn null_cpu_entry_is_left_out_with_a_caveat() {
    let mut v = value(NETCUP);
    v["hardware"]["cpu"][2] = Value::Null;
    let r = ok(&v);
    assert_eq!(
        (
            r.details.cpu.sockets,
            r.details.cpu.cores,
            r.details.cpu.threads
        ),
        (Some(3), Some(3), Some(3))
    );
    assert!(caveat_at(&r, "hardware.cpu[2]").starts_with("null"));

    // Only nulls: everything unknown, nothing fails.
    v["hardware"]["cpu"] = json!([null]);
    let r = ok(&v);
    assert_eq!(r.details.cpu.threads, None);
    assert_eq!(r.details.cpu.features, None);
    assert_eq!(r.profile.cpu_avx2, None);
    assert!(caveat_at(&r, "hardware.cpu").contains("no CPU entries"));
}

#[test]
fn missing_or_empty_smbios() {
    for smbios in [None, Some(json!({})), Some(Value::Null)] {
        let mut v = value(T420);
        match smbios {
            None => {
                v.as_object_mut().unwrap().remove("smbios");
            }
            Some(s) => v["smbios"] = s,
        }
        let r = ok(&v);
        // No model_name and no SMBIOS processor: unknown, with a caveat.
        assert_eq!(r.profile.cpu_model, None);
        assert!(caveat_at(&r, "hardware.cpu").contains("model unknown"));
        // No memory devices: phys_mem.
        assert_eq!(r.profile.ram_bytes, Some(7 * GIB + 512 * MIB));
        assert_eq!(r.details.memory.source, Some(MemorySource::PhysMem));
        // The disk is unaffected.
        assert_eq!(r.profile.disks[0].class, DeviceClass::Hdd);
    }
}

#[test]
fn flags_instead_of_features() {
    let base = report(FRAMEWORK);
    let mut v = value(FRAMEWORK);
    let cpu = v["hardware"]["cpu"][0].as_object_mut().unwrap();
    let features = cpu.remove("features").unwrap();
    cpu.insert("flags".into(), features.clone());
    assert_eq!(ok(&v).details.cpu.features, base.details.cpu.features);

    // One space-separated string, as /proc/cpuinfo has it.
    let joined: Vec<&str> = features
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    v["hardware"]["cpu"][0]["flags"] = json!(joined.join(" "));
    assert_eq!(ok(&v).details.cpu.features, base.details.cpu.features);

    // Neither: unknown, said so.
    v["hardware"]["cpu"][0]
        .as_object_mut()
        .unwrap()
        .remove("flags");
    let r = ok(&v);
    assert_eq!((&r.details.cpu.features, r.profile.cpu_avx2), (&None, None));
    assert!(caveat_at(&r, "hardware.cpu").contains("no feature list"));
}

#[test]
fn device_names_in_every_shape() {
    // No unix_device_names (only the older unix_device_name): no by-id, so the kernel name.
    let mut v = value(T420);
    disks_mut(&mut v)[0]
        .as_object_mut()
        .unwrap()
        .remove("unix_device_names");
    let d = ok(&v).profile.disks[0].clone();
    assert_eq!(d.device, "/dev/sda");
    assert_eq!(d.kernel_name.as_deref(), Some("/dev/sda"));
    assert_eq!(d.class, DeviceClass::Hdd); // the model alone still says so

    // Neither name (July 2025 dropped unix_device_name): from sysfs_id.
    disks_mut(&mut v)[0]
        .as_object_mut()
        .unwrap()
        .remove("unix_device_name");
    assert_eq!(ok(&v).profile.disks[0].device, "/dev/sda");

    // The framework report has no unix_device_name; drop the list too.
    let mut v = value(FRAMEWORK);
    for d in disks_mut(&mut v) {
        d.as_object_mut().unwrap().remove("unix_device_names");
    }
    let r = ok(&v);
    let devices: Vec<_> = r.profile.disks.iter().map(|d| d.device.as_str()).collect();
    assert_eq!(devices, ["/dev/nvme0n1", "/dev/sda"]);
    // The USB stick is still USB (driver), the NVMe still NVMe.
    assert_eq!(r.profile.disks[1].class, DeviceClass::Usb);

    // No name at all: skipped, with the report position.
    let mut v = value(T420);
    for key in ["unix_device_names", "unix_device_name", "sysfs_id"] {
        disks_mut(&mut v)[0].as_object_mut().unwrap().remove(key);
    }
    let r = ok(&v);
    assert!(r.profile.disks.is_empty());
    assert_eq!(r.details.skipped[0].device, "hardware.disk[0]");
    assert_eq!(r.details.skipped[0].reason, SkipReason::NoDeviceName);
    assert!(caveat_at(&r, "hardware.disk").contains("no disks"));
}

#[test]
fn driver_fields_come_and_go() {
    // driver_module (singular) when driver_modules is missing.
    let mut v = value(T420);
    let d = disks_mut(&mut v)[0].as_object_mut().unwrap();
    d.remove("driver_modules");
    d.insert("driver_module".into(), json!("ahci"));
    assert_eq!(ok(&v).profile.disks[0].driver_modules, ["ahci"]);

    // No driver information at all: a virtio disk is still known by its name (vda).
    let mut v = value(NETCUP);
    for key in ["driver", "driver_modules", "drivers", "driver_module"] {
        disks_mut(&mut v)[0].as_object_mut().unwrap().remove(key);
    }
    let d = ok(&v).profile.disks[0].clone();
    assert_eq!((d.class, d.driver), (DeviceClass::Virtio, None));
}

#[test]
fn older_bus_field_and_single_objects() {
    let base = report(T420);
    let mut v = value(T420);
    let d = disks_mut(&mut v)[0].as_object_mut().unwrap();
    let bus = d.remove("bus_type").unwrap();
    d.insert("bus".into(), bus);
    // hardware.disk as one object rather than a list of one.
    let one = v["hardware"]["disk"][0].clone();
    v["hardware"]["disk"] = one;
    let r = ok(&v);
    assert_eq!(r.profile.disks, base.profile.disks);
    assert!(caveat_at(&r, "hardware.disk").contains("list of one"));
}

#[test]
fn mid_2024_flat_shape() {
    // Before 19 August 2024: `hardware` was one list of devices tagged with hardware_class
    // (one CPU device per logical CPU, its flags under `detail`), `bus` not `bus_type`, and
    // `smbios` one list of typed entries.
    let v = value(T420);
    let mut devices = Vec::new();
    for (class, list) in v["hardware"].as_object().unwrap() {
        let Some(list) = list.as_array() else {
            continue;
        };
        for item in list {
            let mut item = item.clone();
            if class == "cpu" {
                let mut detail = item.clone();
                for key in ["siblings", "cores", "units"] {
                    detail.as_object_mut().unwrap().remove(key);
                }
                detail["type"] = json!("cpu");
                for _ in 0..4 {
                    devices.push(json!({"hardware_class": "cpu", "detail": detail}));
                }
                continue;
            }
            let obj = item.as_object_mut().unwrap();
            if let Some(bus) = obj.remove("bus_type") {
                obj.insert("bus".into(), bus);
            }
            obj.insert("hardware_class".into(), json!(class));
            devices.push(item);
        }
    }
    let mut smbios = Vec::new();
    for (kind, list) in v["smbios"].as_object().unwrap() {
        for e in list.as_array().into_iter().flatten() {
            let mut e = e.clone();
            e["type"] = json!(kind);
            smbios.push(e);
        }
    }
    let flat = json!({
        "version": 1,
        "system": "x86_64-linux",
        "virtualisation": "none",
        "hardware": devices,
        "smbios": smbios,
    });
    let r = ok(&flat);
    let base = report(T420);
    assert_eq!(r.profile.disks, base.profile.disks);
    assert_eq!(r.profile.ram_bytes, Some(8 * GIB));
    assert_eq!(r.profile.cpu_model, base.profile.cpu_model);
    assert_eq!(r.details.cpu.features, base.details.cpu.features);
    // One entry per logical CPU: threads and sockets known, cores not.
    assert_eq!(
        (
            r.details.cpu.sockets,
            r.details.cpu.cores,
            r.details.cpu.threads
        ),
        (Some(1), None, Some(4))
    );
    assert!(caveat_at(&r, "hardware.cpu").contains("cores unknown"));
    assert!(caveat_at(&r, "hardware").contains("hardware_class"));
}

#[test]
fn versions_uefi_and_page_size() {
    let mut v = value(THINKCENTRE);
    v["version"] = json!(2); // August 2024, same shape
    let r = ok(&v);
    assert_eq!(r.details.report_version, Some(2));
    assert!(r.details.caveats.is_empty(), "{:?}", r.details.caveats);

    v["version"] = json!(3);
    let r = ok(&v);
    assert!(caveat_at(&r, "version").contains("best-effort"));
    assert_eq!(r.profile.disks.len(), 1);

    v.as_object_mut().unwrap().remove("version");
    let r = ok(&v);
    assert_eq!(r.details.report_version, None);
    assert!(caveat_at(&r, "version").contains("missing"));

    // uefi as a plain boolean; page_size at the top level.
    let mut v = value(THINKCENTRE);
    v["uefi"] = json!(false);
    v["page_size"] = json!(16384);
    let r = ok(&v);
    assert_eq!(r.details.uefi, Some(false));
    assert_eq!(r.details.cpu.page_size, Some(16384));
    // No uefi key (before November 2025): unknown.
    assert_eq!(report(THINKCENTRE).details.uefi, None);
}

#[test]
fn missing_system_is_taken_from_the_cpu() {
    let mut v = value(ORACLE);
    v.as_object_mut().unwrap().remove("system");
    let r = ok(&v);
    assert_eq!(r.profile.system.as_deref(), Some("aarch64-linux"));
    assert!(caveat_at(&r, "system").contains("aarch64-linux"));
}

#[test]
fn smbios_less_than_phys_mem_is_not_trusted() {
    let mut v = value(FRAMEWORK);
    v["smbios"]["memory_device"] = json!([{"size": 1048576}]); // 1 GiB listed, 30 seen
    let r = ok(&v);
    assert_eq!(r.profile.ram_bytes, Some(30 * GIB));
    assert_eq!(r.details.memory.source, Some(MemorySource::PhysMem));
    assert!(caveat_at(&r, "smbios.memory_device").contains("incomplete"));
}

#[test]
fn emmc_usb_enclosures_and_empty_readers() {
    // An eMMC shows its boot areas as disks: skipped, and they make mmcblk0 an eMMC.
    let mut v = value(PI);
    let mut boot = disks_mut(&mut v)
        .iter()
        .find(|d| d["unix_device_name"] == "/dev/mmcblk0")
        .unwrap()
        .clone();
    boot["unix_device_name"] = json!("/dev/mmcblk0boot0");
    boot["unix_device_names"] = json!(["/dev/mmcblk0boot0"]);
    boot["sysfs_id"] = json!("/class/block/mmcblk0boot0");
    disks_mut(&mut v).push(boot);
    let r = ok(&v);
    let emmc = disk(&r, "mmc-SC16G");
    assert_eq!(
        (emmc.class, emmc.class_confidence),
        (DeviceClass::Emmc, Confidence::High)
    );
    assert!(
        r.details
            .skipped
            .iter()
            .any(|s| s.device == "/dev/mmcblk0boot0"
                && s.reason == SkipReason::EmmcHardwarePartition)
    );

    // A USB enclosure whose by-id names the drive inside.
    let mut v = value(FRAMEWORK);
    let usb = &mut disks_mut(&mut v)[1];
    usb["unix_device_names"] = json!([
        "/dev/disk/by-id/usb-Samsung_SSD_870_QVO_1TB_0123456789AB-0:0",
        "/dev/sda"
    ]);
    usb["model"] = json!("Samsung SSD 870 QVO 1TB");
    let r = ok(&v);
    let enclosure = disk(&r, "usb-Samsung_SSD_870");
    assert_eq!(
        (enclosure.class, enclosure.inner_class),
        (DeviceClass::Usb, Some(DeviceClass::SataSsd))
    );
    assert!(enclosure.class_reason.contains("SSD"));
    // Still USB for the system disk: the NVMe wins.
    assert_eq!(r.profile.system_disk().unwrap().class, DeviceClass::Nvme);

    // A card reader with no card: size 0, or no size and a reader's name.
    let mut v = value(FRAMEWORK);
    let usb = &mut disks_mut(&mut v)[1];
    usb["resources"] = json!([{"type": "size", "unit": "sectors", "value_1": 0, "value_2": 512}]);
    let r = ok(&v);
    assert_eq!(r.profile.disks.len(), 1);
    assert_eq!(r.details.skipped[0].reason, SkipReason::NoMedium);
    assert_eq!(r.details.skipped[0].device, "/dev/sda");
    let usb = &mut disks_mut(&mut v)[1];
    usb["resources"] = json!([]);
    usb["model"] = json!("Generic- SD/MMC/MS PRO");
    let r = ok(&v);
    assert_eq!(r.details.skipped[0].reason, SkipReason::NoMedium);
}

#[test]
fn odd_non_essential_fields_are_caveats() {
    let mut v = value(T420);
    v["virtualisation"] = json!(42);
    v["smbios"] = json!("none");
    v["uefi"] = json!("yes");
    disks_mut(&mut v).push(Value::Null);
    disks_mut(&mut v).push(value(T420)["hardware"]["disk"][0].clone()); // listed twice
    let r = ok(&v);
    assert_eq!(r.profile.virtualisation, None);
    assert!(caveat_at(&r, "virtualisation").contains("a number"));
    assert!(caveat_at(&r, "smbios").contains("a string"));
    assert!(caveat_at(&r, "uefi").contains("a string"));
    assert!(caveat_at(&r, "hardware.disk[1]").contains("null"));
    assert_eq!(r.profile.disks.len(), 1);
    assert_eq!(r.details.skipped[0].reason, SkipReason::Duplicate);

    // A size in sectors with no sector size: 512 assumed, said so.
    let mut v = value(T420);
    for res in disks_mut(&mut v)[0]["resources"].as_array_mut().unwrap() {
        res.as_object_mut().unwrap().remove("value_2");
    }
    let r = ok(&v);
    assert_eq!(gb(r.profile.disks[0].size_bytes), 320.1);
    assert!(caveat_at(&r, "hardware.disk[0]").contains("512"));

    // No size at all: kept, size unknown.
    disks_mut(&mut v)[0]["resources"] = json!([]);
    let r = ok(&v);
    assert_eq!(r.profile.disks[0].size_bytes, None);
    assert!(caveat_at(&r, "hardware.disk[0]").contains("size unknown"));
}

// ---------------------------------------------------------------------------------------------
// Malformed input

#[test]
fn truncated_json_gives_line_and_column() {
    let t = &cached(FRAMEWORK).0;
    let cut = &t[..t.len() / 2];
    let e = facter::parse_report(cut, "cut.json").unwrap_err();
    let shown = e.to_string();
    let (path, line, column, message) = input_error(e);
    assert_eq!(path, "cut.json");
    assert_eq!(line, cut.lines().count());
    assert!(line > 1000 && column > 0, "{line}:{column}");
    assert!(message.starts_with("not valid JSON: EOF"), "{message}");
    assert!(
        shown.starts_with(&format!("cut.json:{line}:{column}: not valid JSON")),
        "{shown}"
    );
    // serde_json's position is not repeated in the message.
    assert!(!message.contains(" at line "), "{message}");

    // A syntax error mid-file points at it.
    let e = facter::parse_report("{\n  \"version\": 1,\n  \"hardware\": {,}\n}", "x.json");
    let (_, line, column, _) = input_error(e.unwrap_err());
    assert_eq!((line, column), (3, 16));

    // Empty input.
    let (_, line, _, message) = input_error(facter::parse_report("", "e.json").unwrap_err());
    assert_eq!(line, 1);
    assert!(message.contains("EOF"), "{message}");
}

#[test]
fn not_utf8_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("facter.json");
    std::fs::write(&f, b"{\n  \"system\": \"x86\xff\"\n}").unwrap();
    let (_, line, column, message) = input_error(facter::read_report(&f).unwrap_err());
    assert_eq!((line, column), (2, 17));
    assert!(message.contains("UTF-8"), "{message}");
}

#[test]
fn missing_file_is_an_io_error() {
    let e = facter::read(std::path::Path::new("/nonexistent/facter.json")).unwrap_err();
    assert!(matches!(e, AdvisorError::Io { .. }), "{e:?}");
}

#[test]
fn json_that_is_not_a_report() {
    let m = error_of(&json!({"version": 1, "system": "x86_64-linux"}));
    assert!(m.contains("no `hardware`"), "{m}");
    let m = error_of(&json!({}));
    assert!(m.contains("no `hardware`"), "{m}");
    let m = error_of(&json!([1, 2]));
    assert!(
        m.contains("expected a JSON object") && m.contains("an array"),
        "{m}"
    );
    let m = error_of(&json!("facter"));
    assert!(m.contains("a string"), "{m}");

    let mut v = value(T420);
    v["hardware"] = json!("lots");
    let m = error_of(&v);
    assert!(m.starts_with("`hardware`: expected an object"), "{m}");
}

#[test]
fn essential_fields_of_the_wrong_type() {
    for (field, bad, expected) in [
        (
            "disk",
            json!("sda"),
            "`hardware.disk`: expected a list of disks, found a string",
        ),
        (
            "disk",
            json!(7),
            "`hardware.disk`: expected a list of disks, found a number",
        ),
        (
            "cpu",
            json!(true),
            "`hardware.cpu`: expected a list of CPU entries, found a boolean",
        ),
        (
            "memory",
            json!("8G"),
            "`hardware.memory`: expected a list of memory entries",
        ),
    ] {
        let mut v = value(T420);
        v["hardware"][field] = bad;
        let m = error_of(&v);
        assert!(m.starts_with(expected), "{m}");
    }
    let mut v = value(T420);
    v["version"] = json!({"major": 1});
    assert!(error_of(&v).starts_with("`version`: expected the report format version"));
    let mut v = value(T420);
    v["version"] = json!("one");
    assert!(error_of(&v).contains("found a string"));
    let mut v = value(T420);
    v["system"] = json!(["x86_64-linux"]);
    assert!(error_of(&v).starts_with("`system`: expected a Nix system string"));

    // A missing list is not an error: there is nothing of that kind.
    let mut v = value(T420);
    v["hardware"].as_object_mut().unwrap().remove("disk");
    let r = ok(&v);
    assert!(r.profile.disks.is_empty());
    assert!(caveat_at(&r, "hardware.disk").contains("no disks"));
}

// ---------------------------------------------------------------------------------------------
// Never panic

/// Replaces, deletes or reshapes one node of a report, reached by `path` (each step picks a
/// child by index modulo the number of children).
fn mutate(v: &mut Value, path: &[usize], what: u8, n: u64) {
    let mut pointer = String::new();
    let mut at: &Value = v;
    for step in path {
        let (token, next) = match at {
            Value::Object(m) if !m.is_empty() => {
                let (k, x) = m.iter().nth(step % m.len()).unwrap();
                (k.replace('~', "~0").replace('/', "~1"), x)
            }
            Value::Array(a) if !a.is_empty() => {
                let i = step % a.len();
                (i.to_string(), &a[i])
            }
            _ => break,
        };
        pointer.push('/');
        pointer.push_str(&token);
        at = next;
    }
    let node = v.pointer_mut(&pointer).unwrap();
    match what % 12 {
        0 => *node = Value::Null,
        1 => *node = json!(n),
        2 => *node = json!(-(n as i64)),
        3 => *node = json!(n as f64 / 7.0),
        4 => *node = json!(format!("0x{n:x}")),
        5 => *node = json!(""),
        6 => *node = json!([]),
        7 => *node = json!({}),
        8 => *node = json!([null, n, "x", {}]),
        9 => *node = json!(u64::MAX),
        10 => match node {
            Value::Object(m) if !m.is_empty() => {
                let key = m.keys().nth(n as usize % m.len()).cloned().unwrap();
                m.remove(&key);
            }
            Value::Array(a) if !a.is_empty() => {
                a.truncate(n as usize % a.len());
            }
            _ => *node = json!(true),
        },
        _ => {
            // Wrap the node in a list (objects that became arrays) or unwrap a list.
            let old = node.take();
            *node = match old {
                Value::Array(mut a) if !a.is_empty() => a.swap_remove(0),
                other => json!([other]),
            };
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = facter::parse(&String::from_utf8_lossy(&bytes), "fuzz.json");
    }

    #[test]
    fn arbitrary_json_never_panics(s in "[\\[\\]{}\",:0-9a-z_ .x-]{0,400}") {
        let _ = facter::parse_report(&s, "fuzz.json");
        let wrapped = format!("{{\"version\":1,\"hardware\":{s}}}");
        let _ = facter::parse_report(&wrapped, "fuzz.json");
    }

    #[test]
    fn mutated_reports_never_panic(
        file in 0..CORPUS.len(),
        edits in proptest::collection::vec(
            (proptest::collection::vec(any::<usize>(), 0..6), any::<u8>(), any::<u64>()),
            1..6,
        ),
    ) {
        let mut v = value(CORPUS[file]);
        for (path, what, n) in &edits {
            mutate(&mut v, path, *what, *n);
        }
        if let Ok(r) = reparse(&v) {
            // Whatever survives is well-formed.
            for d in &r.profile.disks {
                prop_assert!(!d.device.is_empty());
                prop_assert!(d.size_bytes != Some(0));
                prop_assert!(!d.class_reason.is_empty());
                prop_assert!(d.inner_class.is_none() || d.class == DeviceClass::Usb);
                let base = d.kernel_name.as_deref().unwrap_or("").trim_start_matches("/dev/");
                prop_assert!(!base.starts_with("ram") && !base.starts_with("loop"));
            }
            let mut sorted = r.profile.disks.clone();
            sorted.sort_by(|a, b| a.device.cmp(&b.device));
            prop_assert_eq!(&sorted, &r.profile.disks);
            prop_assert_eq!(r.profile.ram_bytes, r.details.memory.bytes);
        }
    }

    #[test]
    fn cut_or_corrupted_reports_never_panic(
        file in 0..CORPUS.len(),
        cut in any::<proptest::sample::Index>(),
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut bytes = cached(CORPUS[file]).0.clone().into_bytes();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let text = String::from_utf8_lossy(&bytes);
        if let Err(AdvisorError::Input { line, message, .. }) =
            facter::parse_report(&text, "cut.json")
            && message.starts_with("not valid JSON")
        {
            // serde_json's line is 1-based and within the text.
            prop_assert!(line >= 1 && line <= text.split('\n').count());
        }
    }
}

/// The profile with another `source` (variants are parsed as `variant.json`).
trait WithSource {
    fn with_source(self, origin: &str) -> Self;
}

impl WithSource for btrtune_advisor::hardware::HardwareProfile {
    fn with_source(mut self, origin: &str) -> Self {
        self.source = format!("facter.json: {origin}");
        self
    }
}
