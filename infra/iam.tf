# Identities, each with only what it uses:
#   nodes     write logs and metrics, pull our images;
#   deployer  (Cloud Build) pushes images, reads the deploy secrets, applies manifests;
#   control   (its Kubernetes service account, through Workload Identity) signs with the
#             session-token key and reads its public half, nothing else (kms.tf);
#   runners   nothing at all: their only credential is the projected token control checks.
resource "google_service_account" "nodes" {
  account_id   = "${var.cluster_name}-nodes"
  display_name = "runwire GKE nodes"
}

resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/autoscaling.metricsWriter",
  ])
  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_artifact_registry_repository_iam_member" "nodes_pull" {
  repository = google_artifact_registry_repository.runwire.name
  location   = var.region
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_service_account" "deployer" {
  account_id   = "${var.cluster_name}-deployer"
  display_name = "runwire Cloud Build deployer"
}

resource "google_artifact_registry_repository_iam_member" "deployer_push" {
  repository = google_artifact_registry_repository.runwire.name
  location   = var.region
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.deployer.email}"
}

resource "google_project_iam_member" "deployer" {
  for_each = toset([
    # kubectl apply inside the cluster (no IAM rights on the cluster itself)
    "roles/container.developer",
    # the build's own log
    "roles/logging.logWriter",
  ])
  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

# gcloud builds submit uploads the source here (--gcs-source-staging-dir) and the deployer
# reads it back: a bucket of its own instead of a project-wide storage role.
resource "google_storage_bucket" "build_source" {
  name                        = "${var.project_id}-${var.cluster_name}-build-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket_iam_member" "deployer_source" {
  bucket = google_storage_bucket.build_source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.deployer.email}"
}
