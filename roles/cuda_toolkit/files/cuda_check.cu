// homelab.nvidia_gpu.cuda_toolkit: does the toolkit build for this card, link cuDNN, and run on the GPU?
// Built with -gencode for each card's compute capability. Without a usable GPU it says so ("no CUDA device: <why>")
// and exits 2; a wrong result exits 1. With -DWITH_CUDNN it first prints the linked cuDNN's version (no GPU needed).
#include <cstdio>
#include <cuda_runtime.h>
#ifdef WITH_CUDNN
#include <cudnn.h>
#endif

__global__ void add(const float *a, const float *b, float *c, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) c[i] = a[i] + b[i];
}

int main() {
    const int n = 1 << 16;
#ifdef WITH_CUDNN
    std::printf("cuDNN %zu (built with cudnn.h %d)\n", cudnnGetVersion(), CUDNN_VERSION);
#endif
    int devices = 0;
    cudaError_t found = cudaGetDeviceCount(&devices);
    if (found != cudaSuccess || devices == 0) {
        std::printf("no CUDA device: %s\n", found != cudaSuccess ? cudaGetErrorString(found) : "the driver lists none");
        return 2;
    }
    cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 0);
    float *a, *b, *c;
    cudaMallocManaged(&a, n * sizeof(float));
    cudaMallocManaged(&b, n * sizeof(float));
    cudaMallocManaged(&c, n * sizeof(float));
    for (int i = 0; i < n; i++) { a[i] = 1.0f; b[i] = 2.0f; }
    add<<<(n + 255) / 256, 256>>>(a, b, c, n);
    cudaError_t err = cudaDeviceSynchronize();
    int bad = 0;
    for (int i = 0; i < n; i++) bad += c[i] != 3.0f;
    std::printf("device %s (sm_%d%d): kernel %s, %d wrong results\n", prop.name, prop.major, prop.minor,
                cudaGetErrorString(err), bad);
    cudaFree(a); cudaFree(b); cudaFree(c);
    return (err == cudaSuccess && bad == 0) ? 0 : 1;
}
