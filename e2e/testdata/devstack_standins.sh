# shellcheck shell=bash
# Stand-ins for the DevStack functions devstack/plugin.sh and
# devstack/settings call. DevStack itself cannot run in Nitro's CI (it
# wants a whole VM with systemd, MySQL, Apache), so e2e/devstack_test.go
# sources this file, then the plugin's settings and plugin.sh for each
# phase, exactly as DevStack's run_phase does
# (`source $plugin/devstack/plugin.sh stack post-config`), and checks the
# calls recorded here. Each call appends one line to $CALLS:
#   NAME<TAB>ARG1<TAB>ARG2...
# The signatures are DevStack's (functions-common, lib/keystone).
# Required env: CALLS (the log), ENABLED_SERVICES (comma-separated).

record() {
    local IFS=$'\t'
    printf '%s\n' "$*" >>"$CALLS"
}

# functions-common
define_plugin() { record define_plugin "$@"; }
enable_service() { record enable_service "$@"; }
is_service_enabled() {
    local s
    for s in "$@"; do
        [[ ",${ENABLED_SERVICES}," == *",$s,"* ]] && return 0
    done
    return 1
}
trueorfalse() { # default varname: DevStack's normalisation of a boolean
    local default=$1
    local v=${!2:-$default}
    case "${v,,}" in
        1|yes|true|on) echo True ;;
        0|no|false|off) echo False ;;
        *) echo "$default" ;;
    esac
}
iniset() { record iniset "$@"; }
inidelete() { record inidelete "$@"; }
iniget() { # file section option: values the test preset in INIGET_<section>_<option>
    local var="INIGET_${2}_${3}"
    echo "${!var:-}"
}
echo_summary() { record echo_summary "$@"; }
die() { record die "$@"; exit 1; }
run_process() { record run_process "$@"; }
stop_process() { record stop_process "$@"; }
wait_for_service() { record wait_for_service "$@"; return 0; }

# lib/keystone (each get_or_create_* prints the object's ID, as DevStack's)
create_service_user() { record create_service_user "$@"; }
get_or_create_role() { record get_or_create_role "$@"; echo "role-id-$1"; }
get_or_create_service() { record get_or_create_service "$@"; echo "service-id-$2"; }
get_or_create_endpoint() { record get_or_create_endpoint "$@"; echo "endpoint-id-$2"; }
get_or_create_project() { record get_or_create_project "$@"; echo "project-id-$1"; }

# Commands that must not touch the machine: sudo runs the command as is
# (the test runs with STACK_USER = the current user and every path in a
# temp dir); go and curl are recorded only (no toolchain download, no
# build: the build is checked by the rest of CI).
sudo() { record sudo "$@"; "$@"; }
chown() { :; }
go() {
    record go "$@"
    case $1 in
        version) echo "go version go${NITRO_GO_VERSION} linux/amd64" ;;
        build) [[ $2 == -o ]] && : >"$3" ;;
    esac
}
curl() { record curl "$@"; return 1; }
