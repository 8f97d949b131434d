use super::*;

fn host(name: &str) -> HostData {
    HostData {
        namespace: "ns".into(),
        name: name.into(),
        bmc_address: "redfish://127.0.0.1/redfish/v1/Systems/1".into(),
        ..HostData::default()
    }
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

async fn register(f: &Fixture, h: &HostData) -> Outcome {
    f.register(
        h,
        &ManagementAccessData::default(),
        RegisterOptions::default(),
    )
    .await
    .expect("register")
    .0
}

#[test]
fn long_operations_poll_then_complete() {
    run(async {
        let f = Fixture::new();
        let h = host("a");
        f.configure(
            "ns",
            "a",
            Behaviour {
                polls: 2,
                poll_interval_ms: 50,
                ..Behaviour::default()
            },
        );
        let wait = Outcome::wait(Duration::from_millis(50));
        assert_eq!(register(&f, &h).await, wait);
        assert_eq!(register(&f, &h).await, wait);
        assert_eq!(register(&f, &h).await, Outcome::Done);
        // Registered: later calls are immediate.
        assert_eq!(register(&f, &h).await, Outcome::Done);
        assert_eq!(f.calls("ns", "a").started(Operation::Register), 1);

        let data = InspectData::default();
        let first = f
            .inspect_hardware(&h, &data, InspectOptions::default())
            .await
            .expect("inspect");
        assert!(first.started);
        assert_eq!(first.outcome, wait);
        assert!(first.details.is_none());
        f.inspect_hardware(&h, &data, InspectOptions::default())
            .await
            .expect("inspect");
        let done = f
            .inspect_hardware(&h, &data, InspectOptions::default())
            .await
            .expect("inspect");
        assert_eq!(done.outcome, Outcome::Done);
        let details = done.details.expect("inventory once done");
        assert_eq!(details.cpu.arch, "x86_64");
        assert_eq!(details, generated_inventory(&h), "inventory is stable");
    });
}

#[test]
fn scripted_failures_fail_n_times_then_recover() {
    run(async {
        let f = Fixture::new();
        let h = host("b");
        let mut failures = BTreeMap::new();
        failures.insert(
            Operation::Register,
            Failure {
                message: "BMC said no".into(),
                times: 2,
            },
        );
        f.configure(
            "ns",
            "b",
            Behaviour {
                failures,
                ..Behaviour::default()
            },
        );
        assert_eq!(register(&f, &h).await, Outcome::failed("BMC said no"));
        let restarted = f
            .register(
                &h,
                &ManagementAccessData::default(),
                RegisterOptions {
                    restart: true,
                    ..Default::default()
                },
            )
            .await
            .expect("register");
        assert_eq!(restarted.0, Outcome::failed("BMC said no"));
        assert_eq!(register(&f, &h).await, Outcome::Done);
    });
}

#[test]
fn failing_forever_and_unreachable() {
    run(async {
        let f = Fixture::new();
        let h = host("c");
        let behaviour: Behaviour =
            serde_json::from_str(r#"{"failures": {"powerOn": {"message": "no power"}}}"#)
                .expect("behaviour parses");
        f.configure("ns", "c", behaviour);
        for _ in 0..5 {
            assert_eq!(
                f.power_on(&h, false).await.expect("call"),
                Outcome::failed("no power")
            );
        }
        assert!(f.has_power_failure(&h).await.expect("call"));

        let u = host("u");
        f.configure(
            "ns",
            "u",
            Behaviour {
                unreachable: true,
                ..Behaviour::default()
            },
        );
        assert!(matches!(
            f.power_on(&u, false).await,
            Err(ProvisionerError::Transient(_))
        ));
    });
}

#[test]
fn behaviour_from_annotation_and_bad_annotation() {
    run(async {
        let f = Fixture::new();
        let mut h = host("d");
        h.annotations.insert(
            BEHAVIOUR_ANNOTATION.into(),
            r#"{"initiallyPoweredOn": true, "health": "Warning"}"#.into(),
        );
        assert_eq!(
            f.update_hardware_state(&h).await.expect("state").powered_on,
            Some(true)
        );
        assert_eq!(f.health(&h).await.expect("health"), Health::Warning);

        h.annotations
            .insert(BEHAVIOUR_ANNOTATION.into(), r#"{"pols": 3}"#.into());
        let err = f.health(&h).await.expect_err("typo rejected");
        assert!(err.to_string().contains("pols"), "{err}");
        assert!(err.to_string().contains(BEHAVIOUR_ANNOTATION), "{err}");
    });
}

#[test]
fn provisioning_never_deploys_the_same_image_twice() {
    run(async {
        let f = Fixture::new();
        let h = host("e");
        register(&f, &h).await;
        let data = ProvisionData {
            image: metal3_api::v1alpha1::Image {
                url: "http://images/os.qcow2".into(),
                ..Default::default()
            },
            ..ProvisionData::default()
        };
        assert_eq!(
            f.provision(&h, &data, false).await.expect("p"),
            Outcome::Done
        );
        assert_eq!(
            f.provision(&h, &data, false).await.expect("p"),
            Outcome::Done
        );
        let node = f.node("ns", "e").expect("node");
        assert_eq!(node.calls.started(Operation::Provision), 1);
        assert!(node.powered_on);
        assert_eq!(
            node.provisioned_image.as_deref(),
            Some("http://images/os.qcow2")
        );

        let cleaning = AutomatedCleaningMode::Metadata;
        assert_eq!(
            f.deprovision(&h, false, cleaning).await.expect("d"),
            Outcome::Done
        );
        let node = f.node("ns", "e").expect("node");
        assert!(node.provisioned_image.is_none());
        assert!(!node.powered_on);
        // Nothing left to remove: done without starting again.
        assert_eq!(
            f.deprovision(&h, false, cleaning).await.expect("d"),
            Outcome::Done
        );
        assert_eq!(f.calls("ns", "e").started(Operation::Deprovision), 1);
    });
}

#[test]
fn capacity_limits_concurrent_long_operations() {
    run(async {
        let f = Fixture::new();
        f.set_capacity(Some(1));
        let (a, b) = (host("cap-a"), host("cap-b"));
        for name in ["cap-a", "cap-b"] {
            f.configure(
                "ns",
                name,
                Behaviour {
                    polls: 1,
                    ..Behaviour::default()
                },
            );
        }
        assert!(f.has_capacity(&a).await.expect("cap"));
        let data = InspectData::default();
        let started = f
            .inspect_hardware(&a, &data, InspectOptions::default())
            .await
            .expect("i");
        assert!(started.started);
        assert!(!f.has_capacity(&b).await.expect("cap"), "slot taken by a");
        assert!(f.has_capacity(&a).await.expect("cap"), "a holds its slot");
        let refused = f
            .inspect_hardware(&b, &data, InspectOptions::default())
            .await
            .expect("i");
        assert!(!refused.started);
        let done = f
            .inspect_hardware(&a, &data, InspectOptions::default())
            .await
            .expect("i");
        assert_eq!(done.outcome, Outcome::Done);
        assert!(f.has_capacity(&b).await.expect("cap"), "slot free again");
    });
}

#[test]
fn detach_and_delete_forget_the_node() {
    run(async {
        let f = Fixture::new();
        let h = host("g");
        register(&f, &h).await;
        assert_eq!(f.detach(&h, false).await.expect("detach"), Outcome::Done);
        assert!(!f.node("ns", "g").expect("node").registered);
        // Re-attaching registers again.
        register(&f, &h).await;
        assert!(f.node("ns", "g").expect("node").registered);
        assert_eq!(f.calls("ns", "g").started(Operation::Register), 2);
        assert_eq!(f.delete(&h).await.expect("delete"), Outcome::Done);
        assert!(!f.node("ns", "g").expect("node").registered);
    });
}

#[test]
fn subscriptions_data_images_firmware() {
    run(async {
        let f = Fixture::new();
        let h = host("h");
        let (outcome, id) = f
            .add_bmc_event_subscription(&h, &EventSubscription::default())
            .await
            .expect("sub");
        assert_eq!(outcome, Outcome::Done);
        assert_eq!(f.node("ns", "h").expect("node").subscriptions.len(), 1);
        f.remove_bmc_event_subscription(&h, &id)
            .await
            .expect("unsub");
        assert!(f.node("ns", "h").expect("node").subscriptions.is_empty());

        f.attach_data_image(&h, "http://img/data.iso")
            .await
            .expect("attach");
        assert_eq!(
            f.data_image_status(&h)
                .await
                .expect("status")
                .attached_url
                .as_deref(),
            Some("http://img/data.iso")
        );
        f.detach_data_image(&h).await.expect("detach");
        assert_eq!(
            f.data_image_status(&h).await.expect("status").attached_url,
            None
        );

        let settings = f.firmware_settings(&h, true).await.expect("fw");
        assert_eq!(
            settings.settings.get("BootMode").map(String::as_str),
            Some("Uefi")
        );
        assert_eq!(
            settings.schema.expect("schema").len(),
            settings.settings.len()
        );
        let components = f.firmware_components(&h).await.expect("components");
        assert_eq!(components.len(), 2);
    });
}

#[test]
fn the_journal_records_each_operation_with_its_actor() {
    let path = std::env::temp_dir().join(format!("fixture-journal-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let journal = journal::Journal::open(&path, "replica-1").expect("open the journal");
    let f = Fixture::new().with_journal(journal);
    f.configure(
        "ns",
        "a",
        Behaviour {
            polls: 1,
            ..Behaviour::default()
        },
    );
    let h = host("a");
    run(metal3_provisioner::actor::scope(
        "replica-1/shard-0/tenure-1",
        async {
            assert!(matches!(register(&f, &h).await, Outcome::InProgress { .. }));
            assert_eq!(register(&f, &h).await, Outcome::Done);
            // Registered: a no-op call journals nothing.
            assert_eq!(register(&f, &h).await, Outcome::Done);
        },
    ));
    run(async {
        f.power_on(&h, false).await.expect("power on");
    });
    let entries = journal::read(&path).expect("read the journal");
    let _ = std::fs::remove_file(&path);
    let got: Vec<(Operation, journal::Event, &str)> = entries
        .iter()
        .map(|e| (e.op, e.event, e.actor.as_str()))
        .collect();
    let actor = "replica-1/shard-0/tenure-1";
    assert_eq!(
        got,
        vec![
            (Operation::Register, journal::Event::Started, actor),
            (Operation::Register, journal::Event::Completed, actor),
            (Operation::PowerOn, journal::Event::Started, ""),
            (Operation::PowerOn, journal::Event::Completed, ""),
        ]
    );
    assert!(
        entries
            .iter()
            .all(|e| e.host == "ns/a" && e.replica == "replica-1")
    );
    assert!(entries.windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
}
