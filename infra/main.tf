# The Google Cloud APIs everything below uses.
locals {
  services = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudkms.googleapis.com",
    "compute.googleapis.com",
    "container.googleapis.com",
    "redis.googleapis.com",
    "secretmanager.googleapis.com",
  ]
  # Workload Identity Federation for GKE: IAM grants name Kubernetes service accounts
  # directly, no Google service account in between for the pods (modules/names).
  workload_pool     = module.names.workload_pool
  control_principal = module.names.control_principal
}

data "google_project" "current" {}

# Every derived name and URL, checked and tested offline (modules/names/tests).
module "names" {
  source         = "./modules/names"
  project_id     = var.project_id
  project_number = data.google_project.current.number
  region         = var.region
  cluster_name   = var.cluster_name
  namespace      = var.namespace
  repository     = var.repository

  session_key_version = var.session_key_version
}

resource "google_project_service" "apis" {
  for_each           = toset(local.services)
  service            = each.value
  disable_on_destroy = false
}

# A network of our own: nodes without public addresses, egress through Cloud NAT (runners
# fetch bundles over HTTPS), Memorystore peered into it.
resource "google_compute_network" "runwire" {
  name                    = var.cluster_name
  auto_create_subnetworks = false
  depends_on              = [google_project_service.apis]
}

resource "google_compute_subnetwork" "runwire" {
  name                     = var.cluster_name
  network                  = google_compute_network.runwire.id
  region                   = var.region
  ip_cidr_range            = "10.10.0.0/20"
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = "10.20.0.0/14"
  }
  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = "10.30.0.0/20"
  }
}

resource "google_compute_router" "runwire" {
  name    = var.cluster_name
  network = google_compute_network.runwire.id
  region  = var.region
}

resource "google_compute_router_nat" "runwire" {
  name                               = var.cluster_name
  router                             = google_compute_router.runwire.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"
}

# GKE Autopilot: Google runs the nodes; Workload Identity, Dataplane V2 (which enforces
# NetworkPolicy) and GKE Sandbox (runtimeClassName gvisor) come with it.
resource "google_container_cluster" "runwire" {
  name                = var.cluster_name
  location            = var.region
  enable_autopilot    = true
  network             = google_compute_network.runwire.id
  subnetwork          = google_compute_subnetwork.runwire.id
  deletion_protection = var.deletion_protection

  release_channel {
    channel = var.release_channel
  }

  workload_identity_config {
    workload_pool = local.workload_pool
  }

  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
  }

  # Nodes run as a service account that can write logs and metrics and pull our images,
  # nothing more (not the Compute Engine default account, which is Editor).
  cluster_autoscaling {
    auto_provisioning_defaults {
      service_account = google_service_account.nodes.email
      oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_artifact_registry_repository" "runwire" {
  repository_id = var.repository
  location      = var.region
  format        = "DOCKER"
  description   = "runwire-control and runwire-runner images (cloudbuild.yaml)"

  # Deployed images are pinned by digest; untagged leftovers go after 30 days.
  cleanup_policies {
    id     = "delete-old-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "2592000s"
    }
  }
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 20
    }
  }

  depends_on = [google_project_service.apis]
}

# The load balancer's address; the Ingress names it (kubernetes.io/ingress.global-static-ip-name).
resource "google_compute_global_address" "runwire" {
  name       = "runwire-ip"
  depends_on = [google_project_service.apis]
}

# TLS 1.2 or later with modern ciphers; the FrontendConfig names it.
resource "google_compute_ssl_policy" "runwire" {
  name            = "runwire-tls"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
  depends_on      = [google_project_service.apis]
}
