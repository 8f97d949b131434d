//! The local environment's processes: a real Kubernetes control plane (etcd and kube-apiserver
//! on loopback, with its certificates, kept or temporary state, and our CRDs installed), a real
//! OpenStack Ironic and the sushy-tools Redfish emulator. `metal3 up`, `metal3 control-plane`
//! and the fleet benchmark run them; `metal3-testenv` builds its test helpers on them.
//!
//! Every child process is killed when its handle is dropped and, because a handle in a
//! `static` is never dropped, also by a watchdog that ends it as soon as the process that
//! started it is gone (even after a panic or abort).
//!
//! Modules:
//! - [`control_plane`]: starting etcd + kube-apiserver ([`ControlPlane`]) and installing CRDs.
//! - `pki`: the control plane's CA, serving, admin and service-account keys, and kubeconfig.
//! - [`tools`]: where kube-apiserver, etcd, kubectl and the Ironic virtualenv are found.
//! - [`progress`]: an install script's running step and its elapsed time, as progress lines.
//! - `process`: free ports, the process watchdog, signals to process groups, log tails.
//! - [`private`]: writing keys and credentials 0600 in 0700 directories.
//! - [`ironic`]: a real all-in-one Ironic with SQLite ([`ironic::Ironic`]).
//! - [`sushy`]: the sushy-tools Redfish emulator with its fake systems driver.

pub mod control_plane;
pub mod ironic;
mod pki;
pub mod private;
mod process;
pub mod progress;
pub mod sushy;
pub mod tools;

pub use control_plane::{ControlPlane, install_crd_objects, is_established};
pub use tools::{binaries, kubectl};
