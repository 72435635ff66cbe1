# use60: one image, one process (HTTP endpoints, admin site, scheduled jobs).
# Build:     docker build -t use60 .
# Serve:     docker run -p 8080:8080 -e DATABASE_URL=... -e DATABASE_OWNER_URL=... -e USE60_MASTER_KEY=... use60
# Commands:  docker run --rm -e DATABASE_URL=... -e DATABASE_OWNER_URL=... use60 migrate   (or seed-demo, admin-link EMAIL)

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore from the project files alone first, so the package layer stays cached across code changes.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/Use60/Use60.csproj src/Use60/
RUN dotnet restore src/Use60/Use60.csproj
COPY src/ src/
RUN dotnet publish src/Use60/Use60.csproj -c Release --no-restore -o /app /p:UseAppHost=false

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
# curl only serves the HEALTHCHECK below: the runtime image has no HTTP client of its own. ffmpeg cuts each kept
# recording's thumbnail (unless THUMBNAIL_SERVICE_URL names a service that does).
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl ffmpeg \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
# Every interface, port 8080 (the app's loopback default applies only when nothing sets where to listen).
ENV ASPNETCORE_URLS=http://+:8080 \
    ASPNETCORE_ENVIRONMENT=Production \
    LOG_FORMAT=json \
    DOTNET_NOLOGO=1
EXPOSE 8080
# The image's built-in unprivileged user, app (UID 1654).
USER $APP_UID
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["dotnet", "Use60.dll"]
