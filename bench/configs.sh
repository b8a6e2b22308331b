# Sourced by bench/admitted.sh and bench/cost_per_request.sh: the gateway and nginx configs
# both benchmarks run, written once (bench/streams.sh takes the signing keys). The write_*
# functions expect WORK, ROOM, WORKERS, ORIGIN_PORT, GATEWAY_PORT, ADMIN_PORT, METRICS_PORT
# and NGINX_PORT to be set; with TLS_DIR set (server.pem, server.key in it) the gateway and
# nginx listen with TLS.

# The signing key of every benchmark gateway (a fixed test secret, never a real one), and the
# bot guard off: every benchmark client comes from loopback, which the guard would take for
# one farm (the guard's own cost is measured by its benches).
gateway_keys_section() {
    cat <<EOF
[keys]
signing = "k1"
secrets = { k1 = "0123456789abcdef0123456789abcdef-bench" }

[bot_guard]
enabled = false
EOF
}

# An Anteroom config with one room that admits everyone on first sight and whose pass does
# not need renewal during a run: every benchmark request is a verified pass proxied to the
# origin.
write_gateway_config() {
    cat >"$WORK/gateway.toml" <<EOF
[listen]
public  = "127.0.0.1:$GATEWAY_PORT"
admin   = "127.0.0.1:$ADMIN_PORT"
metrics = "127.0.0.1:$METRICS_PORT"
threads = $WORKERS
$( [ -z "${TLS_DIR:-}" ] || printf 'tls_cert = "%s"\ntls_key = "%s"\n' "$TLS_DIR/server.pem" "$TLS_DIR/server.key")

[store]
backend = "memory"

$(gateway_keys_section)

[[room]]
id                    = "$ROOM"
origin                = "127.0.0.1:$ORIGIN_PORT"
paths                 = ["/bench"]
mode                  = "safety-net"
admit_per_second      = 1000000.0
max_active            = 1000000
session_seconds       = 86400
abandon_after_seconds = 3600
EOF
}

# nginx as a plain reverse proxy (the baseline a platform would otherwise put here), with an
# upstream keep-alive pool and no access log. $1: "on" for a master process with WORKERS
# workers, "off" for a single process doing all the work, whatever WORKERS says (so one PID holds all of its CPU).
write_nginx_config() {
    mkdir -p "$WORK/nginx"
    cat >"$WORK/nginx.conf" <<EOF
master_process $1;
worker_processes $WORKERS;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 128; }
    server {
        listen 127.0.0.1:$NGINX_PORT$( [ -z "${TLS_DIR:-}" ] || echo " ssl");
$( [ -z "${TLS_DIR:-}" ] || printf '        ssl_certificate %s;\n        ssl_certificate_key %s;\n' "$TLS_DIR/server.pem" "$TLS_DIR/server.key")
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
}
