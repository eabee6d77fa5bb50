// homelab.nvidia_gpu.cuda_toolkit: does the toolkit build for this card, link cuDNN, and run on the GPU?
// Built with -gencode for each card's compute capability; run only where a GPU answers.
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
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        std::printf("no CUDA device\n");
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
    std::printf("device %s (sm_%d%d): kernel %s, %d wrong results", prop.name, prop.major, prop.minor,
                cudaGetErrorString(err), bad);
#ifdef WITH_CUDNN
    std::printf(", cuDNN %zu", cudnnGetVersion());
#endif
    std::printf("\n");
    cudaFree(a); cudaFree(b); cudaFree(c);
    return (err == cudaSuccess && bad == 0) ? 0 : 1;
}
