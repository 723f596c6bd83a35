#!/bin/bash
# DevStack plugin for Nitro: a deduplicating, Swift-compatible store for
# Glance images. See devstack/settings for local.conf and the variables,
# docs/keystone.md for what the lines below mean.
#
# Phases (DevStack's plugin contract, stack.sh order):
#   stack install      build nitro from $NITRO_DIR (installs Go if needed)
#   stack post-config  Keystone mode: Nitro's service user, Glance's swift
#                      user, the object-store service and its endpoint in
#                      $REGION_NAME; write nitro.yaml, start nitro (before
#                      Glance starts and uploads the CirrOS image), point
#                      Glance's swift store at it
#   unstack            stop nitro
#   clean              remove its data and config
#
# DevStack cannot run in Nitro's CI; e2e/devstack_test.go runs these phases
# against stand-ins for DevStack's functions and checks every config line
# and Keystone call, and shellcheck checks this file.

# nitro_url is Nitro's Swift API base URL (no path).
function nitro_url {
    echo "${NITRO_SERVICE_PROTOCOL}://${NITRO_HOST}:${NITRO_PORT}"
}

# nitro_keystone_v3 is Keystone's v3 identity URL.
function nitro_keystone_v3 {
    echo "${KEYSTONE_SERVICE_URI%/}/v3"
}

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

# create_nitro_accounts registers Nitro in Keystone (Keystone mode): its
# service user (admin in the service project: the role Keystone requires
# to validate other users' tokens), Glance's swift user (member of the
# service project: an operator role, so it owns AUTH_<service project>),
# the ResellerAdmin role, and the object-store service with this region's
# endpoint. Each DevStack region adds its own endpoint.
function create_nitro_accounts {
    create_service_user "$NITRO_SERVICE_USER" "admin"
    create_service_user "$NITRO_GLANCE_SWIFT_USER" "member"
    get_or_create_role "$NITRO_RESELLER_ADMIN_ROLE"
    get_or_create_service "nitro" "object-store" "Nitro object store (Swift API)"
    get_or_create_endpoint "object-store" "$REGION_NAME" \
        "$(nitro_url)/v1/AUTH_\$(project_id)s" \
        "$(nitro_url)" \
        "$(nitro_url)/v1/AUTH_\$(project_id)s"
}

function configure_nitro {
    sudo install -d -o "$STACK_USER" "$NITRO_CONF_DIR" "$NITRO_DATA_DIR"
    local roles=${NITRO_OPERATOR_ROLES//,/, }
    {
        echo "# Written by the Nitro DevStack plugin (NITRO_AUTH=${NITRO_AUTH})."
        echo "region: ${NITRO_REGION}"
        echo "data_dir: ${NITRO_DATA_DIR}"
        echo "swift:"
        echo "  listen: ${NITRO_HOST}:${NITRO_PORT}"
        if [[ "$NITRO_AUTH" == "keystone" ]]; then
            echo "  accounts: []"
            echo "keystone:"
            echo "  auth_url: $(nitro_keystone_v3)"
            echo "  username: ${NITRO_SERVICE_USER}"
            echo "  password: \"${SERVICE_PASSWORD}\""
            echo "  project_name: ${SERVICE_PROJECT_NAME}"
            echo "  user_domain_name: ${SERVICE_DOMAIN_NAME}"
            echo "  project_domain_name: ${SERVICE_DOMAIN_NAME}"
            echo "  region_name: ${REGION_NAME}"
            echo "  reseller_admin_role: ${NITRO_RESELLER_ADMIN_ROLE}"
            echo "  reseller_prefixes:"
            echo "    - prefix: AUTH_"
            echo "      operator_roles: [${roles}]"
        else
            echo "  accounts:"
            echo "    - name: ${NITRO_GLANCE_ACCOUNT}"
            echo "      users:"
            echo "        - {name: ${NITRO_GLANCE_USER}, key: \"${NITRO_GLANCE_KEY}\", roles: [admin]}"
        fi
        echo "ops_listen: 127.0.0.1:${NITRO_OPS_PORT}"
        echo "log:"
        echo "  level: info"
    } | sudo tee "$NITRO_CONF" >/dev/null
    sudo chown "$STACK_USER" "$NITRO_CONF"
    sudo chmod 0600 "$NITRO_CONF"
}

function start_nitro {
    run_process nitro "$NITRO_BIN serve --config $NITRO_CONF"
    echo "Waiting for nitro on ${NITRO_HOST}:${NITRO_PORT}"
    if ! wait_for_service "$SERVICE_TIMEOUT" "$(nitro_url)/healthcheck"; then
        die $LINENO "nitro did not start"
    fi
}

function stop_nitro {
    stop_process nitro
}

function cleanup_nitro {
    sudo rm -rf "$NITRO_DATA_DIR" "$NITRO_CONF_DIR"
}

# configure_glance_for_nitro points Glance's swift store at Nitro:
#   keystone, single tenant (default): swift_store_config_file reference
#     with auth_version 3, Keystone's /v3 and user service:glance-swift;
#     the storage URL comes from the catalog (object-store, $REGION_NAME)
#   keystone, multi tenant: swift_store_multi_tenant (the user's token, a
#     container per image in the user's project), trusts as configured;
#     glance_store refuses swift_store_config_file in that mode, so the
#     (deprecated) swift_store_auth_* options carry Glance's own user
#   tempauth: a reference with auth v1 at Nitro's /auth/v1.0
function configure_glance_for_nitro {
    local ref=nitro
    local store_conf=$GLANCE_CONF_DIR/glance-nitro-store.conf
    sudo install -d -o "$STACK_USER" "$GLANCE_CONF_DIR"

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
    iniset "$GLANCE_API_CONF" "$section" swift_store_container "$NITRO_CONTAINER"
    iniset "$GLANCE_API_CONF" "$section" swift_store_create_container_on_put True
    iniset "$GLANCE_API_CONF" "$section" swift_store_large_object_size "$NITRO_GLANCE_LARGE_OBJECT_SIZE"
    iniset "$GLANCE_API_CONF" "$section" swift_store_large_object_chunk_size "$NITRO_GLANCE_CHUNK_SIZE"

    if [[ "$NITRO_AUTH" != "keystone" ]]; then
        iniset "$store_conf" "$ref" auth_address "$(nitro_url)/auth/v1.0"
        iniset "$store_conf" "$ref" auth_version 1
        iniset "$store_conf" "$ref" user "${NITRO_GLANCE_ACCOUNT}:${NITRO_GLANCE_USER}"
        iniset "$store_conf" "$ref" key "$NITRO_GLANCE_KEY"
        iniset "$GLANCE_API_CONF" "$section" swift_store_multi_tenant False
        iniset "$GLANCE_API_CONF" "$section" swift_store_config_file "$store_conf"
        iniset "$GLANCE_API_CONF" "$section" default_swift_reference "$ref"
        return
    fi

    iniset "$GLANCE_API_CONF" "$section" swift_store_auth_version 3
    iniset "$GLANCE_API_CONF" "$section" swift_store_region "$REGION_NAME"
    iniset "$GLANCE_API_CONF" "$section" swift_store_service_type object-store
    iniset "$GLANCE_API_CONF" "$section" swift_store_endpoint_type publicURL
    if [[ "$NITRO_GLANCE_MULTI_TENANT" == "True" ]]; then
        local service_project
        service_project=$(get_or_create_project "$SERVICE_PROJECT_NAME" "$SERVICE_DOMAIN_NAME")
        iniset "$GLANCE_API_CONF" "$section" swift_store_multi_tenant True
        iniset "$GLANCE_API_CONF" "$section" swift_store_use_trusts "$NITRO_GLANCE_USE_TRUSTS"
        iniset "$GLANCE_API_CONF" "$section" swift_store_admin_tenants "$service_project"
        iniset "$GLANCE_API_CONF" "$section" swift_store_auth_address "$(nitro_keystone_v3)"
        iniset "$GLANCE_API_CONF" "$section" swift_store_user "${SERVICE_PROJECT_NAME}:${NITRO_GLANCE_SWIFT_USER}"
        iniset "$GLANCE_API_CONF" "$section" swift_store_key "$SERVICE_PASSWORD"
        # Named even without a config file: in a multi-store backend
        # section glance_store 5.7 reads it as None otherwise, and the
        # trust set-up for uploads fails.
        iniset "$GLANCE_API_CONF" "$section" default_swift_reference "$ref"
        inidelete "$GLANCE_API_CONF" "$section" swift_store_config_file
    else
        iniset "$store_conf" "$ref" auth_address "$(nitro_keystone_v3)"
        iniset "$store_conf" "$ref" auth_version 3
        iniset "$store_conf" "$ref" user "${SERVICE_PROJECT_NAME}:${NITRO_GLANCE_SWIFT_USER}"
        iniset "$store_conf" "$ref" key "$SERVICE_PASSWORD"
        iniset "$store_conf" "$ref" user_domain_name "$SERVICE_DOMAIN_NAME"
        iniset "$store_conf" "$ref" project_domain_name "$SERVICE_DOMAIN_NAME"
        iniset "$GLANCE_API_CONF" "$section" swift_store_multi_tenant False
        iniset "$GLANCE_API_CONF" "$section" swift_store_config_file "$store_conf"
        iniset "$GLANCE_API_CONF" "$section" default_swift_reference "$ref"
    fi
}

if is_service_enabled nitro; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing Nitro"
        install_nitro
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        if [[ "$NITRO_AUTH" == "keystone" ]]; then
            if ! is_service_enabled keystone; then
                die $LINENO "NITRO_AUTH=keystone needs the keystone service (or set NITRO_AUTH=tempauth)"
            fi
            echo_summary "Registering Nitro in Keystone"
            create_nitro_accounts
        fi
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
