# Shared by the bench scripts: source it from the repository's root.

# closed_scenario FILE NAME PHONES SECONDS: a scenario of PHONES phones on
# the EM API path, each logging in and out back to back for SECONDS
# against scenarios/storm-lab.toml (limits lifted), every answer checked.
closed_scenario() {
  cat >"$1" <<TOML
[scenario]
name = "$2"
description = "closed model, $3 phones, login/logout back to back"
lab = "$PWD/scenarios/storm-lab.toml"
[load]
model = "closed"
phones = $3
duration = "$4s"
query = false
[thresholds]
rules = ["mismatches == 0"]
TOML
}
