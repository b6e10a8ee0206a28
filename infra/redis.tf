# Memorystore for Redis: what control replicas share (sessions, the queue with its atomic
# claim, one-time token ids, rate limits, session streams). Reached only from the VPC, with
# the AUTH password that cloudbuild.yaml hands to control as a Kubernetes Secret.
resource "google_redis_instance" "runwire" {
  name               = "${var.cluster_name}-redis"
  region             = var.region
  tier               = var.redis_tier
  memory_size_gb     = var.redis_memory_gb
  redis_version      = "REDIS_7_0"
  authorized_network = google_compute_network.runwire.id
  connect_mode       = "DIRECT_PEERING"
  auth_enabled       = true
  # SERVER_AUTHENTICATION needs a TLS client in control (variables.tf, docs/deploy.md).
  transit_encryption_mode = var.redis_tls ? "SERVER_AUTHENTICATION" : "DISABLED"

  redis_configs = {
    # Streams and the queue must never be evicted to make room.
    maxmemory-policy = "noeviction"
  }

  maintenance_policy {
    weekly_maintenance_window {
      day = "SUNDAY"
      start_time {
        hours   = 3
        minutes = 0
      }
    }
  }

  depends_on = [google_project_service.apis]
}
