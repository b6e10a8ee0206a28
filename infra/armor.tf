# Cloud Armor in front of control (k8s/overlays/gke/ingress.yaml's BackendConfig names this
# policy). Rules are evaluated by priority, lowest first, and the first match decides:
#   900   /api/ from one address: over the limit answers 429 (throttle);
#   1000  everything else from one address: over the limit bans it for a while;
#   last  allow.
# Control keeps its own per-user and per-address limits behind this (docs/security.md).
resource "google_compute_security_policy" "runwire" {
  name        = "runwire-armor"
  description = "runwire-control: per-address rate limits"
  type        = "CLOUD_ARMOR"

  rule {
    action      = "throttle"
    priority    = 900
    description = "API requests per client address"
    match {
      expr {
        expression = "request.path.startsWith('/api/')"
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = var.armor_api_rate_limit_per_minute
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "rate_based_ban"
    priority    = 1000
    description = "all requests per client address; a flood is banned"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action   = "allow"
      exceed_action    = "deny(429)"
      enforce_on_key   = "IP"
      ban_duration_sec = var.armor_ban_seconds
      rate_limit_threshold {
        count        = var.armor_rate_limit_per_minute
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "default"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }

  adaptive_protection_config {
    layer_7_ddos_defense_config {
      enable = true
    }
  }

  depends_on = [google_project_service.apis]
}
