//! A job's schedule as a systemd service and timer, a crontab entry or a Kubernetes
//! CronJob, for `bunker schedule export`.
//!
//! The units run the job at the times the expression gives. At DST changes each of these
//! schedulers follows its own rules rather than the bunker daemon's (see the crate docs):
//! systemd, for one, does not run a time that clocks skip in spring, and runs an hourly
//! job only once in a repeated hour.

use crate::Schedule;

mod calendar;

/// What to export: a job, its schedule and the command that runs it.
#[derive(Clone, Copy, Debug)]
pub struct Unit<'a> {
    /// The job's name, as in the configuration file.
    pub job: &'a str,
    /// When the job runs.
    pub schedule: &'a Schedule,
    /// The bunker executable; an absolute path is safest.
    pub program: &'a str,
    /// The arguments after the program, such as
    /// `["--config", "/etc/bunker/bunker.toml", "run", "db"]`.
    pub args: &'a [String],
    /// The container image that has bunker, for Kubernetes.
    pub image: &'a str,
    /// The file of `NAME=value` lines the systemd service reads its environment from
    /// (the variables the configuration refers to); the unit runs without it.
    pub environment_file: Option<&'a str>,
}

impl Unit<'_> {
    fn words(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.program).chain(self.args.iter().map(String::as_str))
    }
}

/// The texts of `bunker-JOB.service` (a oneshot service that runs the command) and
/// `bunker-JOB.timer` (which starts it on the schedule and catches up missed runs).
///
/// Fails when the job's name cannot be part of a unit name or the program cannot be
/// written as the first word of `ExecStart=`.
pub fn systemd(u: &Unit) -> Result<(String, String), String> {
    let job = u.job;
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    if job.is_empty() || job.len() > 200 || !job.chars().all(valid) {
        return Err(format!(
            "job name {job:?} cannot be part of a systemd unit name: \
             use up to 200 letters, digits, '-', '_', '.' and ':'"
        ));
    }
    if u.program.is_empty() {
        return Err(format!("job {job:?} has no program to run"));
    }
    if u.program.starts_with(['@', '-', ':', '+', '!']) {
        return Err(format!(
            "program {:?} starts with a character that systemd's ExecStart= reads as a flag: \
             give its absolute path",
            u.program
        ));
    }
    let environment = match u.environment_file {
        Some(f) if !f.starts_with('/') || f.contains(|c: char| c.is_whitespace() || c == '%') => {
            return Err(format!(
                "environment file {f:?}: give an absolute path without spaces or '%'"
            ))
        }
        Some(f) => format!(
            "# The variables the configuration refers to (${{NAME}}, env:NAME), NAME=value a\n\
             # line; \"-\": the service also runs without the file.\n\
             EnvironmentFile=-{f}\n"
        ),
        None => String::new(),
    };
    let command: Vec<String> = u.words().map(systemd_word).collect();
    let service = format!(
        "# bunker job {job:?}, written by `bunker schedule export`\n\
         [Unit]\n\
         Description=bunker job {job}\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         {environment}\
         ExecStart={}\n\
         # The system's files stay read-only to the job (a repository, state or cache\n\
         # directory under /usr, /boot or /etc needs ReadWritePaths=), /tmp is its own (a\n\
         # PostgreSQL socket in /tmp needs PrivateTmp=false), and nothing it runs gains\n\
         # privileges.\n\
         ProtectSystem=full\n\
         PrivateTmp=true\n\
         NoNewPrivileges=true\n",
        command.join(" ")
    );
    let cron = u.schedule.cron().fields_text();
    let zone = u.schedule.zone().name();
    let calendar: String = calendar::on_calendar(u.schedule.cron(), u.schedule.zone())
        .iter()
        .map(|event| format!("OnCalendar={event}\n"))
        .collect();
    let timer = format!(
        "# bunker job {job:?}: cron \"{cron}\" in {zone}, written by `bunker schedule export`\n\
         # At DST changes systemd follows its own rules: a time that clocks skip in spring\n\
         # does not run that day.\n\
         [Unit]\n\
         Description=Schedule of bunker job {job}\n\
         \n\
         [Timer]\n\
         {calendar}\
         Persistent=true\n\
         AccuracySec=1s\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n"
    );
    Ok((service, timer))
}

/// One word of an `ExecStart=` command line, quoted by systemd's rules when needed.
///
/// `%` (specifiers) and `$` (variables) are doubled everywhere, and a lone `;` (the
/// command separator) is escaped.
fn systemd_word(word: &str) -> String {
    if word == ";" {
        return "\\;".to_string();
    }
    let word = word.replace('%', "%%").replace('$', "$$");
    let plain = !word.is_empty()
        && !word
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\'));
    if plain {
        return word;
    }
    let mut quoted = String::from("\"");
    for c in word.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A crontab entry: a comment naming the job, `CRON_TZ=ZONE`, then the expression and the
/// command, quoted for `/bin/sh`.
///
/// `CRON_TZ` is read by cronie; a command with a line break in an argument cannot be a
/// crontab line and is left out with a comment saying so.
pub fn crontab(u: &Unit) -> String {
    let header = format!(
        "# bunker job {:?}, written by `bunker schedule export`\nCRON_TZ={}\n",
        u.job,
        u.schedule.zone().name()
    );
    if u.words().any(|word| word.contains(['\n', '\r'])) {
        return format!(
            "{header}# not written: an argument has a line break, which a crontab line cannot hold\n"
        );
    }
    let command: Vec<String> = u
        .words()
        .enumerate()
        .map(|(index, word)| shell_word(word, index == 0))
        .collect();
    // cron turns an unescaped `%` into a line break; `\%` reaches the shell as `%`.
    let command = command.join(" ").replace('%', "\\%");
    format!("{header}{} {command}\n", u.schedule.cron().fields_text())
}

/// `word` quoted for `/bin/sh`: as is when that is safe, else in single quotes.
fn shell_word(word: &str, first: bool) -> String {
    let safe = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(c, '_' | '@' | '%' | '+' | ':' | ',' | '.' | '/' | '-')
            // `NAME=value` as the first word would be an assignment.
            || (c == '=' && !first)
    };
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// How many seconds after its time Kubernetes may still start a missed run.
const STARTING_DEADLINE_SECONDS: u32 = 3600;

/// What a CronJob mounts: the configuration file as a ConfigMap, and the environment
/// variables it refers to (its secrets) from a Secret.
#[derive(Clone, Copy, Debug)]
pub struct Mounts<'a> {
    /// The file's name in the ConfigMap and in `dir`: `bunker.toml`.
    pub file: &'a str,
    /// The configuration as written.
    pub text: &'a str,
    /// Where the container sees it: `/etc/bunker`.
    pub dir: &'a str,
    /// The variables the configuration refers to, the Secret's keys.
    pub variables: &'a [String],
}

/// A `batch/v1` CronJob that runs the command in `u.image`, never two runs at once, and
/// starts a run missed by up to an hour.
pub fn kubernetes(u: &Unit) -> String {
    kubernetes_with(u, None)
}

/// [`kubernetes`] with its configuration: a ConfigMap holding the file, a Secret with
/// one key per variable the file refers to (empty, to be filled in), and the CronJob
/// mounting the one and taking its environment from the other, as one YAML stream.
pub fn kubernetes_bundle(u: &Unit, m: &Mounts) -> String {
    let name = kubernetes_name(u.job);
    let data = yaml_block(m.text, "    ");
    let variables = if m.variables.is_empty() {
        " {}\n".to_string()
    } else {
        m.variables
            .iter()
            .map(|v| format!("\n  {v}: \"\""))
            .collect::<String>()
            + "\n"
    };
    format!(
        "# bunker job {job:?}, written by `bunker schedule export`: the configuration, the\n\
         # variables it refers to (fill in the Secret; keep every secret of bunker.toml in\n\
         # one: env:NAME or ${{NAME}}, never written into the file), and the CronJob.\n\
         apiVersion: v1\n\
         kind: ConfigMap\n\
         metadata:\n\
         \x20 name: {name}\n\
         data:\n\
         \x20 {file}: {data}\
         ---\n\
         apiVersion: v1\n\
         kind: Secret\n\
         metadata:\n\
         \x20 name: {name}\n\
         type: Opaque\n\
         stringData:{variables}\
         ---\n\
         {cronjob}",
        job = u.job,
        file = yaml_string(m.file),
        cronjob = kubernetes_with(u, Some(m)),
    )
}

fn kubernetes_with(u: &Unit, mounts: Option<&Mounts>) -> String {
    let (schedule, note) = kubernetes_schedule(u.schedule.cron());
    let command = yaml_list(std::iter::once(u.program), "              ");
    let args = if u.args.is_empty() {
        " []".to_string()
    } else {
        yaml_list(u.args.iter().map(String::as_str), "              ")
    };
    format!(
        "# bunker job {job:?}, written by `bunker schedule export`\n\
         {note}\
         apiVersion: batch/v1\n\
         kind: CronJob\n\
         metadata:\n\
         \x20 name: {name}\n\
         \x20 annotations:\n\
         \x20   bunker/job: {job_quoted}\n\
         spec:\n\
         \x20 schedule: {schedule}\n\
         \x20 timeZone: {zone}\n\
         \x20 concurrencyPolicy: Forbid\n\
         \x20 startingDeadlineSeconds: {STARTING_DEADLINE_SECONDS}\n\
         \x20 successfulJobsHistoryLimit: 3\n\
         \x20 failedJobsHistoryLimit: 3\n\
         \x20 jobTemplate:\n\
         \x20   spec:\n\
         \x20     template:\n\
         \x20       spec:\n\
         \x20         restartPolicy: Never\n\
         \x20         containers:\n\
         \x20           - name: bunker\n\
         \x20             image: {image}\n\
         \x20             command:{command}\n\
         \x20             args:{args}\n\
         {mounted}",
        job = u.job,
        note = note.unwrap_or(""),
        name = kubernetes_name(u.job),
        job_quoted = yaml_string(u.job),
        schedule = yaml_string(&schedule),
        zone = yaml_string(u.schedule.zone().name()),
        image = yaml_string(u.image),
        mounted = mounts.map_or(String::new(), |m| {
            let name = kubernetes_name(u.job);
            format!(
                "\x20             envFrom:\n\
                 \x20               - secretRef:\n\
                 \x20                   name: {name}\n\
                 \x20             volumeMounts:\n\
                 \x20               - name: config\n\
                 \x20                 mountPath: {dir}\n\
                 \x20                 readOnly: true\n\
                 \x20         volumes:\n\
                 \x20           - name: config\n\
                 \x20             configMap:\n\
                 \x20               name: {name}\n",
                dir = yaml_string(m.dir),
            )
        }),
    )
}

/// `bunker-JOB` as a DNS-1123 label that fits a CronJob: lowercase letters, digits and
/// `-`, at most 52 characters, not ending in `-`.
fn kubernetes_name(job: &str) -> String {
    let mut name: String = format!("bunker-{job}")
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    name.truncate(52);
    name.truncate(name.trim_end_matches('-').len());
    name
}

/// The expression for Kubernetes' cron parser, and a YAML comment if it reads it otherwise.
///
/// Kubernetes takes days of the week as 0-6, so a day-of-week field naming 7 is written
/// out from its values. It also treats `*/2` in a day field as a restriction, so such an
/// expression can run on other days there, and that is said in a comment.
fn kubernetes_schedule(cron: &crate::Cron) -> (String, Option<&'static str>) {
    let text = cron.fields_text();
    let mut fields: Vec<String> = text.split(' ').map(str::to_string).collect();
    if fields.len() != 5 {
        return (text, None); // a macro
    }
    let names_seven = fields[4].split([',', '-', '/']).any(|token| token == "7");
    if !cron.weekdays_star && names_seven {
        fields[4] = cron_list(cron.weekdays);
    }
    let star = |field: &str| field.split(',').any(|item| item == "*" || item == "*/1");
    let note = (!cron.days_or_weekdays() && !star(&fields[2]) && !star(&fields[4])).then_some(
        "# Note: Kubernetes runs this on days that match EITHER day field; bunker's daemon\n\
         # and cron run it on days that match both.\n",
    );
    (fields.join(" "), note)
}

/// A set of numbers in cron syntax: values, and `a-b` for three or more in a row.
fn cron_list(mask: u64) -> String {
    let values: Vec<u32> = crate::cron::bits(mask).collect();
    let mut parts = Vec::new();
    let mut start = 0;
    while start < values.len() {
        let mut end = start;
        while end + 1 < values.len() && values[end + 1] == values[end] + 1 {
            end += 1;
        }
        if end - start >= 2 {
            parts.push(format!("{}-{}", values[start], values[end]));
        } else {
            parts.extend(values[start..=end].iter().map(u32::to_string));
        }
        start = end + 1;
    }
    parts.join(",")
}

/// Items as a YAML block list, one per line at `indent`.
fn yaml_list<'a>(items: impl Iterator<Item = &'a str>, indent: &str) -> String {
    items
        .map(|item| format!("\n{indent}- {}", yaml_string(item)))
        .collect()
}

/// A multi-line text as a YAML literal block (`|`, lines at `indent`) when it reads back
/// the same that way, else as a double-quoted string.
fn yaml_block(text: &str, indent: &str) -> String {
    let literal = !text.is_empty()
        && text.ends_with('\n')
        && !text.ends_with("\n\n")
        && !text.starts_with([' ', '\t', '\n'])
        && text.chars().all(|c| {
            c == '\n' || !(c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}'))
        })
        && text
            .lines()
            .all(|l| l.is_empty() || !l.ends_with([' ', '\t']));
    if !literal {
        return format!("{}\n", yaml_string(text));
    }
    let mut out = String::from("|\n");
    for line in text.lines() {
        if !line.is_empty() {
            out.push_str(indent);
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// `s` as a YAML double-quoted string (which never reads as a number, boolean or null).
fn yaml_string(s: &str) -> String {
    let mut quoted = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                quoted.push_str(&format!("\\u{:04x}", u32::from(c)))
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests;
