# The layout of disko's btrfs example (example/btrfs-subvolumes.nix in nix-community/disko),
# written out here as the baseline of the database matrix: / mounts first with no options,
# so the compress=zstd asked for on /home and /nix never applies (btrfs-tuning-facts.md
# §1.1), and PostgreSQL's /var/lib/postgresql lives in the copy-on-write root subvolume.
{
  disko.devices.disk.vdb = {
    type = "disk";
    device = "/dev/vdb";
    content = {
      type = "gpt";
      partitions.ESP = {
        priority = 1;
        start = "1M";
        end = "128MiB";
        content = {
          type = "filesystem";
          format = "vfat";
          mountpoint = "/boot";
        };
      };
      partitions.root = {
        size = "100%";
        content = {
          type = "btrfs";
          extraArgs = [ "-f" ];
          subvolumes = {
            "/rootfs".mountpoint = "/";
            "/home" = {
              mountpoint = "/home";
              mountOptions = [ "compress=zstd" ];
            };
            "/nix" = {
              mountpoint = "/nix";
              mountOptions = [ "compress=zstd" "noatime" ];
            };
            "/test".mountpoint = "/test";
          };
        };
      };
    };
  };
}
