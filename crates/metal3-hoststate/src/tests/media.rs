//! Data images: attached and detached only while the host is off.

use metal3_api::consts::REBOOT_ANNOTATION;

use super::harness::*;
use crate::*;

#[test]
fn data_images_change_only_while_the_host_is_off() {
    rt(async {
        let mut sim = Sim::new("di", spec_with_bmc());
        sim.reach_provisioned("http://images/os.qcow2").await;
        sim.data_image = Some(DataImageInput {
            wanted: Some("http://images/config.iso".into()),
            attached: None,
        });
        sim.step().await;
        assert_eq!(
            sim.fixture.node(NS, "di").expect("node").data_image,
            None,
            "not while running"
        );
        sim.annotate(REBOOT_ANNOTATION, "");
        sim.step().await; // off
        sim.step().await; // attach, then on
        assert!(sim.status().powered_on);
        assert_eq!(
            sim.fixture
                .node(NS, "di")
                .expect("node")
                .data_image
                .as_deref(),
            Some("http://images/config.iso")
        );
        assert_eq!(
            sim.data_image.as_ref().and_then(|d| d.attached.as_deref()),
            Some("http://images/config.iso")
        );
        // Deleting the DataImage detaches it at the next power cycle.
        if let Some(di) = sim.data_image.as_mut() {
            di.wanted = None;
        }
        sim.annotate(REBOOT_ANNOTATION, "");
        sim.step().await;
        sim.step().await;
        assert_eq!(sim.fixture.node(NS, "di").expect("node").data_image, None);
        assert_eq!(
            sim.data_image.as_ref().and_then(|d| d.attached.clone()),
            None
        );
    });
}
