#!/bin/bash
# DevStack plugin for Nitro: a deduplicating, Swift-compatible store for
# Glance images. See devstack/settings for local.conf and the variables.
#
# Phases (DevStack's plugin contract, stack.sh order):
#   stack install      build nitro from $NITRO_DIR (installs Go if needed)
#   stack post-config  write nitro.yaml, start nitro (before Glance starts
#                      and uploads the CirrOS image), point Glance at it
#   unstack            stop nitro
#   clean              remove its data and config
#
# Not run in Nitro's CI (no DevStack there); written from DevStack's plugin
# conventions and the glance-api.conf lines the e2e test proves
# (docs in README.md, "Pointing Glance at Nitro").

function install_nitro {
    local go=go
    if ! command -v go >/dev/null || ! go version | grep -q "go${NITRO_GO_VERSION%.*}"; then
        local arch
        arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
        curl -fsSL "https://go.dev/dl/go${NITRO_GO_VERSION}.linux-${arch}.tar.gz" \
            | sudo tar -C "$DEST" -xz
        go=$DEST/go/bin/go
    fi
    (cd "$NITRO_DIR" && $go build -o "$NITRO_DIR/nitro" .)
    sudo install -m 0755 "$NITRO_DIR/nitro" "$NITRO_BIN"
}

function configure_nitro {
    sudo install -d -o "$STACK_USER" "$NITRO_CONF_DIR" "$NITRO_DATA_DIR"
    cat <<YAML | sudo tee "$NITRO_CONF" >/dev/null
# Written by the Nitro DevStack plugin.
region: ${NITRO_REGION}
data_dir: ${NITRO_DATA_DIR}
swift:
  listen: ${NITRO_HOST}:${NITRO_PORT}
  accounts:
    - name: ${NITRO_GLANCE_ACCOUNT}
      users:
        - {name: ${NITRO_GLANCE_USER}, key: "${NITRO_GLANCE_KEY}", roles: [admin]}
ops_listen: 127.0.0.1:${NITRO_OPS_PORT}
log:
  level: info
YAML
    sudo chown "$STACK_USER" "$NITRO_CONF"
    chmod 0600 "$NITRO_CONF"
}

function start_nitro {
    run_process nitro "$NITRO_BIN serve --config $NITRO_CONF"
    echo "Waiting for nitro on ${NITRO_HOST}:${NITRO_PORT}"
    if ! wait_for_service "$SERVICE_TIMEOUT" "http://${NITRO_HOST}:${NITRO_PORT}/healthcheck"; then
        die $LINENO "nitro did not start"
    fi
}

function stop_nitro {
    stop_process nitro
}

function cleanup_nitro {
    sudo rm -rf "$NITRO_DATA_DIR" "$NITRO_CONF_DIR"
}

# configure_glance_for_nitro sets Glance's swift store to Nitro, single
# tenant, auth v1 (tempauth) via a swift_store_config_file reference.
function configure_glance_for_nitro {
    local ref=nitro
    local store_conf=$GLANCE_CONF_DIR/glance-nitro-store.conf
    sudo install -d -o "$STACK_USER" "$GLANCE_CONF_DIR"
    iniset "$store_conf" "$ref" auth_address "http://${NITRO_HOST}:${NITRO_PORT}/auth/v1.0"
    iniset "$store_conf" "$ref" auth_version 1
    iniset "$store_conf" "$ref" user "${NITRO_GLANCE_ACCOUNT}:${NITRO_GLANCE_USER}"
    iniset "$store_conf" "$ref" key "$NITRO_GLANCE_KEY"

    local section=glance_store
    if [[ "$(trueorfalse False GLANCE_ENABLE_MULTIPLE_STORES)" == "True" ]]; then
        # Multi-store: add a "nitro" backend of type swift and make it the
        # default.
        local backends
        backends=$(iniget "$GLANCE_API_CONF" DEFAULT enabled_backends)
        if [[ "$backends" != *"nitro:swift"* ]]; then
            iniset "$GLANCE_API_CONF" DEFAULT enabled_backends "${backends:+$backends,}nitro:swift"
        fi
        iniset "$GLANCE_API_CONF" glance_store default_backend nitro
        section=nitro
    else
        iniset "$GLANCE_API_CONF" glance_store stores "file,http,swift"
        iniset "$GLANCE_API_CONF" glance_store default_store swift
    fi
    iniset "$GLANCE_API_CONF" "$section" swift_store_config_file "$store_conf"
    iniset "$GLANCE_API_CONF" "$section" default_swift_reference "$ref"
    iniset "$GLANCE_API_CONF" "$section" swift_store_container "$NITRO_CONTAINER"
    iniset "$GLANCE_API_CONF" "$section" swift_store_create_container_on_put True
    iniset "$GLANCE_API_CONF" "$section" swift_store_multi_tenant False
    iniset "$GLANCE_API_CONF" "$section" swift_store_large_object_size "$NITRO_GLANCE_LARGE_OBJECT_SIZE"
    iniset "$GLANCE_API_CONF" "$section" swift_store_large_object_chunk_size "$NITRO_GLANCE_CHUNK_SIZE"
}

if is_service_enabled nitro; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing Nitro"
        install_nitro
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring and starting Nitro"
        configure_nitro
        start_nitro
        if is_service_enabled g-api glance; then
            echo_summary "Pointing Glance's swift store at Nitro"
            configure_glance_for_nitro
        fi
    fi

    if [[ "$1" == "unstack" ]]; then
        stop_nitro
    fi

    if [[ "$1" == "clean" ]]; then
        cleanup_nitro
    fi
fi
