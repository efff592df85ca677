# syntax=docker/dockerfile:1
#
#   docker build -t gatehouse --build-arg VERSION="$(git describe --tags --always --dirty)" .
#   docker run -p 8080:8080 -p 9091:9091 \
#     -v "$PWD/gatehouse.yaml:/etc/gatehouse/gatehouse.yaml:ro" -v gatehouse-data:/var/lib/gatehouse gatehouse
#
# The mounted config must listen on 0.0.0.0:8080 (and the admin/metrics listener on
# 0.0.0.0:9091): the built-in defaults bind 127.0.0.1, unreachable from outside the container.
# State (e.g. sqlite:///var/lib/gatehouse/gatehouse.db) goes to /var/lib/gatehouse, the working
# directory, writable by the nonroot user (uid 65532).
#
# A static binary (CGO_ENABLED=0; the SQLite driver is pure Go, modernc.org/sqlite) on
# distroless/static (CA certificates, tzdata, /etc/passwd with nonroot = 65532, no shell).

ARG GO_VERSION=1.26

# ---------------------------------------------------------------- build
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0

# Module download in its own layer: rebuilt only when go.mod / go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gatehouse ./cmd/gatehouse

# Empty state directory for the final image, owned by nonroot (distroless has no mkdir).
RUN install -d -m 0750 -o 65532 -g 65532 /out/var-lib-gatehouse

# ---------------------------------------------------------------- runtime
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gatehouse /gatehouse
COPY --from=build --chown=65532:65532 /out/var-lib-gatehouse /var/lib/gatehouse
USER 65532:65532
WORKDIR /var/lib/gatehouse
# 8080: HTTP (login, OIDC, forward auth); 9091: metrics / health.
EXPOSE 8080 9091
ENTRYPOINT ["/gatehouse"]
CMD ["serve", "--config", "/etc/gatehouse/gatehouse.yaml"]
