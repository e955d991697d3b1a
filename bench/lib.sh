# Shared by the bench scripts: source it from the repository's root.

# closed_scenario FILE NAME PHONES SECONDS [PIPELINE]: a scenario of PHONES
# phones on the EM API path, each logging in and out back to back for
# SECONDS against scenarios/storm-lab.toml (limits lifted), every answer
# checked; PIPELINE=true writes each login with its logout, as wrk's
# pipeline does.
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
pipeline = ${5:-false}
[thresholds]
rules = ["mismatches == 0"]
TOML
}
