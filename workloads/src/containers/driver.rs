//! What the replay loop asks of a storage driver: the calls containers-storage makes on its
//! graph driver (`Create`, `ApplyDiff`, `CreateReadWrite`, `Remove`), without mounts.

use super::churn::ChurnOp;
use super::content::Io;
use super::layers::LayerPlan;
use crate::WorkloadError;

/// A containers-storage graph driver, replayed.
pub trait GraphDriver {
    /// Creates layer `id` above the layers `chain` (bottom-up; empty for a base layer) and
    /// extracts `layer` into it: one layer of `podman pull`.
    fn pull(
        &mut self,
        id: &str,
        chain: &[String],
        layer: &LayerPlan,
        io: &mut Io<'_>,
    ) -> Result<(), WorkloadError>;

    /// Creates container `id`'s writable layer above the image `image` (its layer ids,
    /// bottom-up): `podman create` / start, short of the mount.
    fn create_container(
        &mut self,
        id: &str,
        image: &[String],
        io: &mut Io<'_>,
    ) -> Result<(), WorkloadError>;

    /// One write of container `id` running on `image`.
    fn write(
        &mut self,
        id: &str,
        image: &[String],
        op: &ChurnOp,
        io: &mut Io<'_>,
    ) -> Result<(), WorkloadError>;

    /// Removes a container's writable layer or an image layer: `podman rm`, `podman rmi`.
    fn remove(&mut self, id: &str, io: &mut Io<'_>) -> Result<(), WorkloadError>;

    /// Waits for work the filesystem deferred after removals (btrfs's cleaner dropping
    /// deleted subvolumes); true when it waited, false when there is nothing to wait for or
    /// the kernel does not let us.
    fn settle(&mut self, io: &mut Io<'_>) -> Result<bool, WorkloadError>;
}
