//! Long-running operations (firmware updates, volume changes applied on reset) as Redfish
//! Tasks. A task finishes when its server has booted past the boot it waits for, so nothing
//! runs in the background: the state is worked out when someone asks.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// When a task is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// Already done.
    Now,
    /// Done once the server's boot counter is above this value.
    BootAfter(u64),
}

/// One task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub id: u64,
    pub host: usize,
    pub name: String,
    pub until: Until,
    pub started: String,
    pub ended: Option<String>,
}

impl Task {
    /// Whether the task is done, given the server's boot counter.
    pub fn done(&self, boots: u64) -> bool {
        match self.until {
            Until::Now => true,
            Until::BootAfter(n) => boots > n,
        }
    }

    /// The Task resource.
    pub fn body(&self, boots: u64) -> Value {
        let done = self.done(boots);
        let (state, percent, message) = if done {
            ("Completed", 100, "The task completed.")
        } else {
            (
                "Running",
                50,
                "The change is staged and is applied when the server next boots.",
            )
        };
        let mut body = json!({
            "@odata.id": format!("/redfish/v1/TaskService/Tasks/{}", self.id),
            "@odata.type": "#Task.v1_4_3.Task",
            "Id": self.id.to_string(),
            "Name": self.name,
            "TaskState": state,
            "TaskStatus": "OK",
            "PercentComplete": percent,
            "StartTime": self.started,
            "TaskMonitor": monitor(self.id),
            "Messages": [{"MessageId": "TaskEvent.1.0.TaskProgressChanged", "Message": message}],
        });
        if let (Some(end), Some(map)) = (&self.ended, body.as_object_mut()) {
            map.insert("EndTime".into(), Value::from(end.as_str()));
        }
        body
    }
}

/// The task monitor URL of task `id`.
pub fn monitor(id: u64) -> String {
    format!("/redfish/v1/TaskService/TaskMonitors/{id}")
}

/// The tasks of one service.
#[derive(Debug, Default)]
pub struct Tasks {
    pub list: BTreeMap<u64, Task>,
    next: u64,
}

impl Tasks {
    /// Adds a task; returns its id.
    pub fn add(&mut self, host: usize, name: String, until: Until, now: String) -> u64 {
        self.next += 1;
        let id = self.next;
        let ended = (until == Until::Now).then(|| now.clone());
        self.list.insert(
            id,
            Task {
                id,
                host,
                name,
                until,
                started: now,
                ended,
            },
        );
        id
    }

    /// Task `id`, with its end time noted the first time it is seen done.
    pub fn observe(&mut self, id: u64, boots: impl Fn(usize) -> u64, now: &str) -> Option<Task> {
        let task = self.list.get_mut(&id)?;
        if task.ended.is_none() && task.done(boots(task.host)) {
            task.ended = Some(now.to_string());
        }
        Some(task.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_waits_for_the_next_boot() {
        let mut tasks = Tasks::default();
        let id = tasks.add(3, "BIOS update".into(), Until::BootAfter(5), "t0".into());
        let task = tasks.observe(id, |_| 5, "t1").expect("task");
        assert_eq!(task.body(5)["TaskState"], "Running");
        assert!(task.ended.is_none());
        let task = tasks
            .observe(id, |h| if h == 3 { 6 } else { 0 }, "t2")
            .expect("task");
        let body = task.body(6);
        assert_eq!(body["TaskState"], "Completed");
        assert_eq!(body["EndTime"], "t2");
        assert_eq!(body["TaskMonitor"], monitor(id));
        let again = tasks.observe(id, |_| 9, "t3").expect("task");
        assert_eq!(again.ended.as_deref(), Some("t2"), "the end time stays");
        let now = tasks.add(0, "BMC update".into(), Until::Now, "t4".into());
        assert!(tasks.observe(now, |_| 0, "t5").expect("task").done(0));
        assert!(tasks.observe(99, |_| 0, "t").is_none());
    }
}
